"""Resizing images and masks to the model's input (matterport's IMAGE_RESIZE_MODE)."""

import numpy as np
from PIL import Image

_RESIZE_MODES = ("none", "square", "pad64", "crop")


def _scaled_size(height, width, scale):
    """Output (height, width) for a resize by ``scale``; shared by resize_image and resize_mask."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def resize(image, output_shape):
    """Bilinear resize of image [H, W] or [H, W, C] to output_shape (h, w); dtype is preserved."""
    out_h, out_w = int(output_shape[0]), int(output_shape[1])
    if image.shape[:2] == (out_h, out_w):
        return image.copy()
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4):
        mode = "RGB" if image.shape[2] == 3 else "RGBA"
        return np.asarray(Image.fromarray(image, mode).resize((out_w, out_h), Image.BILINEAR))
    if image.dtype == np.uint8 and image.ndim == 2:
        return np.asarray(Image.fromarray(image, "L").resize((out_w, out_h), Image.BILINEAR))
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.empty((out_h, out_w, planes.shape[2]), dtype=np.float32)
    for c in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32), "F")
        out[:, :, c] = np.asarray(plane.resize((out_w, out_h), Image.BILINEAR))
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(image.dtype)
    return out[:, :, 0] if image.ndim == 2 else out


def _compute_scale(height, width, min_dim, max_dim, min_scale, mode):
    scale = max(1.0, min_dim / min(height, width)) if min_dim else 1.0
    if min_scale and scale < min_scale:
        scale = float(min_scale)
    if max_dim and mode == "square" and round(max(height, width) * scale) > max_dim:
        scale = max_dim / max(height, width)
    return scale


def _centre_pad(size, target):
    before = (target - size) // 2
    return before, target - size - before


def _check_resize_args(image, min_dim, max_dim, mode):
    if mode not in _RESIZE_MODES:
        raise ValueError(f"resize_image: mode must be one of {_RESIZE_MODES}, got {mode!r}")
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"resize_image: image must be a non-empty [H, W] or [H, W, C] array, got {shape}")
    if mode == "square" and not max_dim:
        raise ValueError("resize_image: mode 'square' needs max_dim (e.g. IMAGE_MAX_DIM=1024)")
    if mode == "crop" and not min_dim:
        raise ValueError("resize_image: mode 'crop' needs min_dim (the crop size)")
    if mode == "pad64" and min_dim and min_dim % 64:
        raise ValueError(f"resize_image: mode 'pad64' needs min_dim divisible by 64, got {min_dim}")


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square", rng=None):
    """Resize (PIL bilinear) and pad or crop an image, keeping its aspect ratio; dtype is kept.

    Modes (as matterport):
      - "none": unchanged.
      - "square": scale up so the short side is >= min_dim (never down for min_dim), but the long
        side <= max_dim; then zero-pad (centred) to [max_dim, max_dim].
      - "pad64": scale by min_dim / min_scale rules, then zero-pad (centred) so both sides are multiples of 64.
      - "crop": scale up so the short side is >= min_dim, then take a random [min_dim, min_dim] crop
        (``rng``: optional np.random.Generator; default uses the global np.random state).
    image: [H, W, C] (or [H, W]).
    Returns (image, window, scale, padding, crop):
      window: (y1, x1, y2, x2) of the resized image inside the output (y2/x2 exclusive);
      scale: float factor applied to the original image;
      padding: [(top, bottom), (left, right), (0, 0)];
      crop: (y, x, h, w) of the crop in the resized image, or None.
    """
    _check_resize_args(image, min_dim, max_dim, mode)
    height, width = image.shape[:2]
    no_pad = [(0, 0), (0, 0), (0, 0)]
    if mode == "none":
        return image, (0, 0, height, width), 1.0, no_pad, None
    scale = _compute_scale(height, width, min_dim, max_dim, min_scale, mode)
    if scale != 1:
        image = resize(image, _scaled_size(height, width, scale))
    h, w = image.shape[:2]
    if mode == "crop":
        y, x = _random_offsets(h - min_dim, w - min_dim, rng)
        image = image[y : y + min_dim, x : x + min_dim]
        return image, (0, 0, min_dim, min_dim), scale, no_pad, (y, x, min_dim, min_dim)
    if mode == "square":
        (top, bottom), (left, right) = _centre_pad(h, max_dim), _centre_pad(w, max_dim)
    else:  # pad64
        (top, bottom), (left, right) = _centre_pad(h, -(-h // 64) * 64), _centre_pad(w, -(-w // 64) * 64)
    padding = [(top, bottom), (left, right), (0, 0)]
    image = np.pad(image, padding[: image.ndim], mode="constant")
    return image, (top, left, top + h, left + w), scale, padding, None


def _random_offsets(max_y, max_x, rng):
    if rng is None:
        return int(np.random.randint(0, max_y + 1)), int(np.random.randint(0, max_x + 1))
    return int(rng.integers(0, max_y + 1)), int(rng.integers(0, max_x + 1))


def _nearest_indices(size, out_size):
    """Source index of each output pixel for a nearest-neighbour resize of ``size`` -> ``out_size``."""
    idx = ((np.arange(out_size) + 0.5) * (size / out_size)).astype(np.int64)
    return np.minimum(idx, size - 1)


def resize_mask(mask, scale, padding, crop=None):
    """Resize masks like resize_image did the image (nearest neighbour), then crop or pad.

    mask: [H, W, N] bool. scale, padding, crop: as returned by resize_image.
    Returns [H', W', N] bool with the same H', W' as resize_image's output image.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"resize_mask: mask must be [H, W, N], got shape {mask.shape}")
    height, width = mask.shape[:2]
    out_h, out_w = _scaled_size(height, width, scale) if scale != 1 else (height, width)
    rows, cols = _nearest_indices(height, out_h), _nearest_indices(width, out_w)
    mask = mask.take(rows, axis=0).take(cols, axis=1).astype(bool, copy=False)
    if crop is not None:
        y, x, h, w = crop
        return mask[y : y + h, x : x + w]
    return np.pad(mask, [tuple(p) for p in padding[:2]] + [(0, 0)], mode="constant")
