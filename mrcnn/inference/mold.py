"""Between user images and network tensors: mold (resize, pad) and unmold (back to the original).

Images enter the network as raw RGB float32 in [0, 255], padded with zeros; each backbone
normalises its own input in-graph. Detection boxes leave the network normalised to the molded
image and are mapped back here with the resize window and scale.
"""

import warnings

import numpy as np

from mrcnn.data.boxes import box_frame
from mrcnn.data.images import channel_array
from mrcnn.data.masks import paste_masks
from mrcnn.data.resize import resize_image


class ImageError(ValueError):
    """An input image has the wrong type, dtype, rank or channel count."""


def check_image(image, where="image", channels=3):
    """Return `image` as uint8 [H, W, channels], or raise ImageError saying what is wrong.

    With 3 channels (RGB) it accepts uint8 RGB, grayscale [H, W] or [H, W, 1] (replicated to 3 channels), RGBA
    (alpha composited on white, the policy of mrcnn.data.images); other channel counts: see
    mrcnn.data.images.channel_array. Float images in [0, 255] are rounded; a float image with every value in
    [0, 1] gets a warning (detect() expects 0..255: multiply by 255).
    """
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{where}: expected a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or (channels == 3 and image.ndim == 3 and image.shape[-1] not in (1, 3, 4)):
        raise ImageError(f"{where}: expected shape [H, W, {channels}], got {image.shape}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise ImageError(f"{where}: image is too small ({image.shape[0]}x{image.shape[1]})")
    if image.dtype != np.uint8:
        image = _float_to_uint8(image, where)
    try:
        return channel_array(image, channels)
    except ValueError as err:
        raise ImageError(f"{where}: {err}") from None


def _float_to_uint8(image, where):
    """Numeric pixels in [0, 255] -> uint8 (rounded); warn when they all lie in [0, 1]."""
    if image.dtype == bool or not np.issubdtype(image.dtype, np.number):
        raise ImageError(f"{where}: expected uint8 pixels, got dtype {image.dtype}")
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 255:
        raise ImageError(f"{where}: {image.dtype} pixels must be finite and within [0, 255]; convert to uint8")
    if np.issubdtype(image.dtype, np.floating) and 0 < image.max() <= 1:
        warnings.warn(
            f"{where}: float pixels all within [0, 1], but detect() expects 0..255 and will find (almost) "
            "nothing; pass (image * 255).round().astype(np.uint8)",
            stacklevel=3,
        )
    return np.round(image).astype(np.uint8)


def resize_for_model(image, config, mode=None, rng=None):
    """resize_image with the config's settings: (image, window, scale, padding, crop).

    rng (np.random.Generator) draws the "crop" mode's crop; training passes its seeded one.
    """
    return resize_image(
        image,
        min_dim=config.IMAGE_MIN_DIM,
        max_dim=config.IMAGE_MAX_DIM,
        min_scale=config.IMAGE_MIN_SCALE,
        mode=mode or config.IMAGE_RESIZE_MODE,
        rng=rng,
    )


def mold_inputs(images, config):
    """Resize and pad a list of images to one batch.

    Returns molded [batch, H, W, 3] float32, windows [batch, (y1, x1, y2, x2)] in molded pixels,
    scales [batch] and the original shapes [batch, 3]. All images must mold to one shape
    ("square" and "crop" modes always do).
    """
    if config.IMAGE_RESIZE_MODE == "crop":
        raise ValueError("IMAGE_RESIZE_MODE='crop' is for training only; use 'square' in the inference config")
    molded, windows, scales, shapes = [], [], [], []
    for i, image in enumerate(images):
        image = check_image(image, where=f"images[{i}]", channels=config.IMAGE_CHANNEL_COUNT)
        resized, window, scale, _, _ = resize_for_model(image, config)
        molded.append(resized)
        windows.append(window)
        scales.append(scale)
        shapes.append(image.shape)
    if len({m.shape for m in molded}) > 1:
        raise ValueError(
            "Images molded to different shapes; detect them one per call or use IMAGE_RESIZE_MODE='square'"
        )
    return np.stack(molded).astype(np.float32), np.array(windows), np.array(scales, np.float32), np.array(shapes)


def unmold_detections(detections, masks, original_shape, molded_shape, window, scale, normalization="mrcnn"):
    """Network output of one image → matterport's result dict in original-image pixels.

    detections: [D, (y1, x1, y2, x2, class_id, score)] normalised to the molded image (score 0 =
    padding), as Config.BOX_NORMALIZATION says (mrcnn.data.boxes.box_frame); masks: [n, h, w] probabilities
    for the first n detections.
    Returns rois int32 [N, 4] (exclusive y2/x2), class_ids int32 [N], scores float32 [N],
    masks bool [H, W, N]. Detections whose box vanishes after clipping are dropped.
    """
    count = int(np.sum(detections[:, 5] > 0))
    detections = detections[:count]
    frame_scale, frame_shift = box_frame(*molded_shape[:2], normalization)
    boxes = detections[:, :4] * frame_scale + frame_shift
    offset = np.array([window[0], window[1], window[0], window[1]], np.float32)
    boxes = (boxes - offset) / scale
    limit = np.array([original_shape[0], original_shape[1]] * 2, np.float32)
    boxes = np.clip(boxes, 0, limit)
    rois = np.round(boxes).astype(np.int32)
    keep = np.flatnonzero((rois[:, 2] > rois[:, 0]) & (rois[:, 3] > rois[:, 1]))
    full_masks = paste_masks(masks[:count][keep], boxes[keep], original_shape)
    return {
        "rois": rois[keep],
        "class_ids": detections[keep, 4].astype(np.int32),
        "scores": detections[keep, 5].astype(np.float32),
        "masks": full_masks,
    }


def compose_image_meta(image_id, original_image_shape, image_shape, window, scale, active_class_ids):
    """matterport's image_meta vector (kept for scripts that use it)."""
    return np.array(
        [image_id] + list(original_image_shape) + list(image_shape) + list(window) + [scale] + list(active_class_ids),
        dtype=np.float32,
    )


def parse_image_meta(meta):
    """Inverse of compose_image_meta for a batch [batch, meta_size] → dict of arrays."""
    meta = np.asarray(meta)
    return {
        "image_id": meta[:, 0].astype(np.int32),
        "original_image_shape": meta[:, 1:4].astype(np.int32),
        "image_shape": meta[:, 4:7].astype(np.int32),
        "window": meta[:, 7:11].astype(np.int32),
        "scale": meta[:, 11],
        "active_class_ids": meta[:, 12:].astype(np.int32),
    }


def mold_image(images, config):
    """matterport's molding: float32 pixels minus config.MEAN_PIXEL (the model itself takes raw RGB)."""
    return np.asarray(images).astype(np.float32) - np.asarray(config.MEAN_PIXEL, np.float32)


def unmold_image(normalized_images, config):
    """Inverse of mold_image: add config.MEAN_PIXEL back, as uint8."""
    return (np.asarray(normalized_images) + np.asarray(config.MEAN_PIXEL, np.float32)).astype(np.uint8)
