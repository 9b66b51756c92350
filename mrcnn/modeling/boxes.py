"""Box arithmetic in keras.ops.

Convention for every box in mrcnn: (y1, x1, y2, x2). In pixels, y2 and x2 are exclusive, so a
box's height is y2 - y1. Inside the network boxes are normalised to the molded image:
pixels / (H, W, H, W), so (0, 0, 1, 1) is the whole image.
"""

from keras import ops


def _split(boxes):
    return boxes[..., 0], boxes[..., 1], boxes[..., 2], boxes[..., 3]


def encode(boxes, targets, std_dev):
    """Regression deltas that move `boxes` onto `targets`.

    boxes, targets: [..., 4]; std_dev: [4] divisor of the deltas.
    Returns [..., (dy, dx, log(dh), log(dw))] / std_dev.
    """
    y1, x1, y2, x2 = _split(boxes)
    ty1, tx1, ty2, tx2 = _split(targets)
    height = ops.maximum(y2 - y1, 1e-8)
    width = ops.maximum(x2 - x1, 1e-8)
    t_height = ops.maximum(ty2 - ty1, 1e-8)
    t_width = ops.maximum(tx2 - tx1, 1e-8)
    deltas = ops.stack(
        [
            ((ty1 + ty2) - (y1 + y2)) * 0.5 / height,
            ((tx1 + tx2) - (x1 + x2)) * 0.5 / width,
            ops.log(t_height / height),
            ops.log(t_width / width),
        ],
        axis=-1,
    )
    return deltas / ops.cast(std_dev, deltas.dtype)


def decode(boxes, deltas, std_dev, max_log_scale=4.135):
    """Inverse of `encode`: apply deltas [..., 4] to boxes [..., 4].

    The log-scale deltas are clipped at log(1000/16), as is usual, so a wild prediction
    cannot overflow exp().
    """
    deltas = deltas * ops.cast(std_dev, deltas.dtype)
    y1, x1, y2, x2 = _split(boxes)
    height = y2 - y1
    width = x2 - x1
    center_y = y1 + 0.5 * height + deltas[..., 0] * height
    center_x = x1 + 0.5 * width + deltas[..., 1] * width
    height = height * ops.exp(ops.minimum(deltas[..., 2], max_log_scale))
    width = width * ops.exp(ops.minimum(deltas[..., 3], max_log_scale))
    return ops.stack(
        [center_y - 0.5 * height, center_x - 0.5 * width, center_y + 0.5 * height, center_x + 0.5 * width],
        axis=-1,
    )


def clip(boxes, low=0.0, high=1.0):
    """Clip normalised boxes [..., 4] to the window [low, high] on both axes."""
    return ops.clip(boxes, low, high)


def area(boxes):
    """Area of boxes [..., 4]; zero for degenerate boxes."""
    y1, x1, y2, x2 = _split(boxes)
    return ops.maximum(y2 - y1, 0.0) * ops.maximum(x2 - x1, 0.0)


def iou(boxes1, boxes2):
    """Pairwise IoU of boxes1 [..., N, 4] and boxes2 [..., M, 4] → [..., N, M].

    Pairs where either box has zero area get IoU 0.
    """
    a = ops.expand_dims(boxes1, -2)
    b = ops.expand_dims(boxes2, -3)
    inter_h = ops.maximum(ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0)
    inter_w = ops.maximum(ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0)
    intersection = inter_h * inter_w
    union = ops.expand_dims(area(boxes1), -1) + ops.expand_dims(area(boxes2), -2) - intersection
    return ops.where(union > 0, intersection / ops.maximum(union, 1e-12), 0.0)
