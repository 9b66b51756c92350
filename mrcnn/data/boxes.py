"""NumPy box maths on host-side arrays: IoU, NMS, deltas, normalisation.

Boxes are (y1, x1, y2, x2) in pixels with y2/x2 exclusive; box area is (y2 - y1) * (x2 - x1).
"""

import numpy as np


def _areas(boxes):
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def compute_iou(box, boxes, box_area=None, boxes_area=None):
    """IoU of one box (y1, x1, y2, x2) with boxes [N, 4]. Areas may be passed precomputed. -> [N] float."""
    box = np.asarray(box, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    box_area = _areas(box) if box_area is None else box_area
    boxes_area = _areas(boxes) if boxes_area is None else np.asarray(boxes_area)
    inter_h = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0)
    inter_w = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0)
    inter = inter_h * inter_w
    union = box_area + boxes_area - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def compute_overlaps(boxes1, boxes2):
    """Pairwise box IoU. boxes1: [N1, 4], boxes2: [N2, 4] -> [N1, N2] float."""
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(1, -1, 4)
    inter_h = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0)
    inter_w = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0)
    inter = inter_h * inter_w
    union = _areas(a) + _areas(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def compute_overlaps_masks(masks1, masks2):
    """Pairwise mask IoU. masks1: [H, W, N1], masks2: [H, W, N2] (bool or >0.5) -> [N1, N2] float32."""
    masks1, masks2 = np.asarray(masks1), np.asarray(masks2)
    n1, n2 = masks1.shape[-1], masks2.shape[-1]
    if n1 == 0 or n2 == 0:
        return np.zeros((n1, n2), dtype=np.float32)
    if masks1.shape[:2] != masks2.shape[:2]:
        raise ValueError(f"compute_overlaps_masks: mask sizes differ: {masks1.shape[:2]} vs {masks2.shape[:2]}")
    flat1 = (masks1.reshape(-1, n1) > 0.5).astype(np.float32)
    flat2 = (masks2.reshape(-1, n2) > 0.5).astype(np.float32)
    inter = flat1.T @ flat2
    union = flat1.sum(axis=0)[:, None] + flat2.sum(axis=0)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def non_max_suppression(boxes, scores, threshold):
    """Greedy NMS. boxes: [N, 4] pixels, scores: [N]. Returns int32 indices of kept boxes, best first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    areas = _areas(boxes)
    keep = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        iou = compute_iou(boxes[best], boxes[order], areas[best], areas[order])
        order = order[iou <= threshold]
    return np.array(keep, dtype=np.int32)


_UNIT_STD = np.ones(4, np.float32)


def box_refinement(box, gt_box):
    """Deltas that turn box into gt_box. box, gt_box: [N, (y1, x1, y2, x2)] -> [N, (dy, dx, log dh, log dw)].

    dy, dx are centre shifts in units of the box height/width; dh, dw are log size ratios. A numpy
    face of mrcnn.modeling.boxes.encode (std_dev 1), so zero-size boxes give finite deltas (sizes
    floored at 1e-8) instead of inf/nan.
    """
    box = np.asarray(box, dtype=np.float32).reshape(-1, 4)
    gt_box = np.asarray(gt_box, dtype=np.float32).reshape(-1, 4)
    from keras import ops  # here, not at the top: this module loads without TensorFlow (the CLIs check first)

    from mrcnn.modeling.boxes import encode

    return ops.convert_to_numpy(encode(box, gt_box, _UNIT_STD))


def apply_box_deltas(boxes, deltas):
    """Apply [N, (dy, dx, log dh, log dw)] to boxes [N, (y1, x1, y2, x2)]; inverse of box_refinement.

    A numpy face of mrcnn.modeling.boxes.decode (std_dev 1) WITHOUT its log-scale clip, as
    matterport's utils.apply_box_deltas: large log dh/dw are applied as given.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    deltas = np.asarray(deltas, dtype=np.float32).reshape(-1, 4)
    from keras import ops

    from mrcnn.modeling.boxes import decode

    return ops.convert_to_numpy(decode(boxes, deltas, _UNIT_STD, max_log_scale=np.inf))


def trim_zeros(x):
    """Drop all-zero rows (padding). x: [N, C] -> [M, C]."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"trim_zeros: expected a 2-D array, got shape {x.shape}")
    return x[~np.all(x == 0, axis=1)]


BOX_NORMALIZATIONS = ("mrcnn", "matterport")


def box_frame(height, width, normalization="mrcnn"):
    """(scale, shift) float32 [4] with normalised = (pixels - shift) / scale, for Config.BOX_NORMALIZATION.

    "mrcnn": pixels / (H, W, H, W), y2/x2 exclusive, so the whole image is (0, 0, 1, 1). "matterport" (its
    norm_boxes): (pixels - (0, 0, 1, 1)) / (H - 1, W - 1, H - 1, W - 1), the last pixel row/column is 1.
    """
    if normalization not in BOX_NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {BOX_NORMALIZATIONS}, got {normalization!r}")
    if normalization == "matterport":
        scale = np.array([height - 1, width - 1, height - 1, width - 1], np.float32)
        return scale, np.array([0, 0, 1, 1], np.float32)
    return np.array([height, width, height, width], np.float32), np.zeros(4, np.float32)


def norm_boxes(boxes, shape, normalization="mrcnn"):
    """Pixel boxes -> normalised float32 [N, 4] in the given image shape (H, W), by box_frame's convention.

    "mrcnn" (the default here): boxes / (H, W, H, W), so with exclusive y2/x2 the full image is (0, 0, 1, 1).
    "matterport": (boxes - (0, 0, 1, 1)) / (H - 1, W - 1, H - 1, W - 1), its utils.norm_boxes.
    """
    scale, shift = box_frame(*shape[:2], normalization)
    return (np.asarray(boxes, dtype=np.float32) - shift) / scale


def denorm_boxes(boxes, shape, normalization="mrcnn"):
    """Normalised boxes -> int32 pixel boxes, the inverse of norm_boxes with the same convention."""
    scale, shift = box_frame(*shape[:2], normalization)
    return np.around(np.asarray(boxes, dtype=np.float32) * scale + shift).astype(np.int32)
