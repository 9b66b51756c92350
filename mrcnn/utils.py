"""matterport's `mrcnn.utils`, kept as a facade: each name lives in the module of its concept.

The library itself never imports this module; user code and matterport's notebooks do.
Box convention everywhere: ``boxes: [N, (y1, x1, y2, x2)]`` in pixels, y2/x2 exclusive.
Masks are ``[H, W, N]`` bool, one channel per instance.
"""

from mrcnn.data import boxes as _boxes
from mrcnn.data.boxes import (
    apply_box_deltas,
    box_refinement,
    compute_iou,
    compute_overlaps,
    compute_overlaps_masks,
    non_max_suppression,
    trim_zeros,
)
from mrcnn.data.dataset import Dataset
from mrcnn.data.errors import DatasetError
from mrcnn.data.images import read_image
from mrcnn.data.masks import expand_mask, extract_bboxes, minimize_mask, unmold_mask
from mrcnn.data.resize import resize_image, resize_mask
from mrcnn.data.skimage_resize import resize
from mrcnn.evaluation.metrics import compute_ap, compute_ap_range, compute_matches, compute_recall
from mrcnn.modeling.anchors import generate_anchors, generate_pyramid_anchors
from mrcnn.modeling.slicing import batch_slice
from mrcnn.weights.download import download_trained_weights


def norm_boxes(boxes, shape, normalization="matterport"):
    """matterport's utils.norm_boxes: (boxes - (0, 0, 1, 1)) / (H - 1, W - 1, H - 1, W - 1).

    The boxes of a model built with the default Config.BOX_NORMALIZATION ("mrcnn", boxes / (H, W)) differ from
    these by under one pixel; pass normalization=config.BOX_NORMALIZATION for its exact frame.
    """
    return _boxes.norm_boxes(boxes, shape, normalization)


def denorm_boxes(boxes, shape, normalization="matterport"):
    """matterport's utils.denorm_boxes, the inverse of norm_boxes: round(boxes * (H - 1, W - 1) + (0, 0, 1, 1))."""
    return _boxes.denorm_boxes(boxes, shape, normalization)


__all__ = [
    "Dataset",
    "DatasetError",
    "read_image",
    "resize",
    "resize_image",
    "resize_mask",
    "minimize_mask",
    "expand_mask",
    "unmold_mask",
    "extract_bboxes",
    "compute_iou",
    "compute_overlaps",
    "compute_overlaps_masks",
    "non_max_suppression",
    "box_refinement",
    "apply_box_deltas",
    "trim_zeros",
    "norm_boxes",
    "denorm_boxes",
    "compute_matches",
    "compute_ap",
    "compute_ap_range",
    "compute_recall",
    "generate_anchors",
    "generate_pyramid_anchors",
    "batch_slice",
    "download_trained_weights",
]
