"""Instance masks [H, W, N] bool: mini masks, pasting soft masks into boxes, tight boxes.

Boxes are (y1, x1, y2, x2) in pixels with y2/x2 exclusive.
"""

import numpy as np


def _bilinear_crops(mask, bbox, out_h, out_w):
    """Bilinear samples of each instance's box, vectorised over instances.

    mask: [H, W, N] bool; bbox: [N, (y1, x1, y2, x2)] pixels. Returns float32 [N, out_h, out_w].
    """
    y1, x1, y2, x2 = (bbox[:, i].astype(np.float64)[:, None] for i in range(4))
    ys = y1 + (np.arange(out_h) + 0.5) * (y2 - y1) / out_h - 0.5  # [N, out_h]
    xs = x1 + (np.arange(out_w) + 0.5) * (x2 - x1) / out_w - 0.5  # [N, out_w]
    ys = np.clip(ys, y1, np.maximum(y2 - 1, y1))
    xs = np.clip(xs, x1, np.maximum(x2 - 1, x1))
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1i = np.minimum(y0 + 1, np.maximum(y2.astype(np.int64) - 1, y0))
    x1i = np.minimum(x0 + 1, np.maximum(x2.astype(np.int64) - 1, x0))
    wy, wx = (ys - y0)[:, :, None], (xs - x0)[:, None, :]
    n = np.arange(mask.shape[2])[:, None, None]

    def pick(yy, xx):
        return mask[yy[:, :, None], xx[:, None, :], n].astype(np.float32)

    top = pick(y0, x0) * (1 - wx) + pick(y0, x1i) * wx
    bottom = pick(y1i, x0) * (1 - wx) + pick(y1i, x1i) * wx
    return top * (1 - wy) + bottom * wy


def minimize_mask(bbox, mask, mini_shape):
    """Crop each instance mask to its box and resize it to mini_shape (bilinear, threshold 0.5).

    bbox: [N, (y1, x1, y2, x2)] pixels; mask: [H, W, N] bool; mini_shape: (h, w).
    Returns [h, w, N] bool. An instance with an empty (zero-area) box gives an all-False mini mask.
    """
    mask = np.asarray(mask, dtype=bool)
    bbox = np.asarray(bbox, dtype=np.int64).reshape(-1, 4)
    if bbox.shape[0] != mask.shape[-1]:
        raise ValueError(f"minimize_mask: {bbox.shape[0]} boxes but {mask.shape[-1]} masks")
    h, w = int(mini_shape[0]), int(mini_shape[1])
    if bbox.shape[0] == 0:
        return np.zeros((h, w, 0), dtype=bool)
    bbox = _clip_boxes(bbox, mask.shape[:2])
    mini = _bilinear_crops(mask, bbox, h, w) >= 0.5
    empty = (bbox[:, 2] <= bbox[:, 0]) | (bbox[:, 3] <= bbox[:, 1])
    mini[empty] = False
    return np.transpose(mini, (1, 2, 0))


def _clip_boxes(boxes, shape):
    limits = np.array([shape[0], shape[1], shape[0], shape[1]])
    return np.clip(boxes, 0, limits)


def paste_masks(masks, boxes, image_shape, threshold=0.5):
    """Place small soft masks into full-size boolean masks: the one paste of the library.

    detect() (mold.unmold_detections), unmold_mask and expand_mask all call it; the export graph's
    in-graph op (mrcnn.export.paste_masks) follows the same rule and is tested against it.
    masks: [N, h, w] probabilities, each covering its box; boxes: [N, (y1, x1, y2, x2)] float
    pixels of the output image. Returns [H, W, N] bool. Each mask is resampled bilinearly only
    over its own box (pixel centres, edge cells held), as two small matrix products
    (rows x mask x columns), then thresholded (value >= threshold).
    """
    height, width = image_shape[:2]
    full = np.zeros((height, width, len(masks)), dtype=bool)
    for i, (mask, box) in enumerate(zip(masks, boxes)):
        y1, x1 = int(np.floor(box[0])), int(np.floor(box[1]))
        y2, x2 = int(np.ceil(box[2])), int(np.ceil(box[3]))
        y1, x1, y2, x2 = max(y1, 0), max(x1, 0), min(y2, height), min(x2, width)
        if y2 <= y1 or x2 <= x1:
            continue
        rows = _interpolation_matrix(np.arange(y1, y2), box[0], box[2], mask.shape[0])
        cols = _interpolation_matrix(np.arange(x1, x2), box[1], box[3], mask.shape[1])
        full[y1:y2, x1:x2, i] = rows @ mask @ cols.T >= threshold
    return full


def _interpolation_matrix(pixels, start, stop, size):
    """Bilinear weights [len(pixels), size] mapping `size` mask cells spread over [start, stop) to pixels."""
    position = (pixels + 0.5 - start) / max(stop - start, 1e-6) * size - 0.5
    position = np.clip(position, 0, size - 1)
    low = np.floor(position).astype(int)
    high = np.minimum(low + 1, size - 1)
    weight = position - low
    matrix = np.zeros((len(pixels), size), dtype=np.float32)
    rows = np.arange(len(pixels))
    np.add.at(matrix, (rows, low), 1 - weight)
    np.add.at(matrix, (rows, high), weight)
    return matrix


def expand_mask(bbox, mini_mask, image_shape):
    """Inverse of minimize_mask: paste mini masks back at their boxes.

    bbox: [N, (y1, x1, y2, x2)] pixels; mini_mask: [h, w, N] bool; image_shape: (H, W, ...).
    Returns [H, W, N] bool.
    """
    bbox = np.asarray(bbox).reshape(-1, 4)
    if bbox.shape[0] != mini_mask.shape[-1]:
        raise ValueError(f"expand_mask: {bbox.shape[0]} boxes but {mini_mask.shape[-1]} mini masks")
    soft = np.moveaxis(np.asarray(mini_mask, dtype=np.float32), -1, 0)
    return paste_masks(soft, bbox.astype(np.float32), image_shape)


def unmold_mask(mask, bbox, image_shape):
    """Full-size mask from a network mask: paste mask [h, w] float (0..1) into bbox, threshold 0.5.

    Same pixels as detect() gives for the same box (both use paste_masks).
    bbox: (y1, x1, y2, x2) pixels (int or float); image_shape: (H, W, ...). Returns [H, W] bool.
    """
    box = np.asarray(bbox, dtype=np.float32).reshape(1, 4)
    return paste_masks(np.asarray(mask, dtype=np.float32)[None], box, image_shape)[:, :, 0]


def extract_bboxes(mask):
    """Tight boxes around masks. mask: [H, W, N] bool -> int32 [N, (y1, x1, y2, x2)], y2/x2 exclusive.

    An empty mask gives the all-zero box (0, 0, 0, 0).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"extract_bboxes: mask must be [H, W, N], got shape {mask.shape}")
    height, width = mask.shape[:2]
    rows, cols = mask.any(axis=1), mask.any(axis=0)  # [H, N], [W, N]
    y1, x1 = rows.argmax(axis=0), cols.argmax(axis=0)
    y2, x2 = height - rows[::-1].argmax(axis=0), width - cols[::-1].argmax(axis=0)
    boxes = np.stack([y1, x1, y2, x2], axis=1).astype(np.int32)
    boxes[~rows.any(axis=0)] = 0
    return boxes
