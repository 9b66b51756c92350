"""The training batch layout, defined once: the generator fills it and the training graph takes it as inputs.

Each batch is a dict of numpy arrays:
  image        [b, H, W, 3] float32, raw RGB in [0, 255] (zero padding);
  gt_class_ids [b, G] int32 (0 = padding, < 0 = crowd);
  gt_boxes     [b, G, (y1, x1, y2, x2)] float32 normalised to the molded image;
  gt_masks     [b, G, h, w] uint8: mini masks over each box (USE_MINI_MASK) or full-image masks.
G = MAX_GT_INSTANCES. RPN and ROI targets are computed in-graph from these.
"""


def image_shape(config):
    """Fixed (S, S, C) for the square/crop modes, so shapes (and anchors) are static; else (None, None, C).

    C is config.IMAGE_CHANNEL_COUNT (3 for RGB)."""
    channels = int(config.IMAGE_CHANNEL_COUNT)
    if config.IMAGE_RESIZE_MODE in ("square", "crop"):
        size = int(config.IMAGE_SHAPE[0])
        return (size, size, channels)
    return (None, None, channels)


def batch_layout(config):
    """{name: (shape without the batch axis, dtype)} of a training batch, in the order above."""
    count = config.MAX_GT_INSTANCES
    image = image_shape(config)
    mask_shape = tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK else image[:2]
    return {
        "image": (image, "float32"),
        "gt_class_ids": ((count,), "int32"),
        "gt_boxes": ((count, 4), "float32"),
        "gt_masks": ((count,) + mask_shape, "uint8"),
    }
