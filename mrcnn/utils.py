"""matterport's `mrcnn.utils`, kept as a facade: each name lives in the module of its concept.

The library itself never imports this module; user code and matterport's notebooks do.
Box convention everywhere: ``boxes: [N, (y1, x1, y2, x2)]`` in pixels, y2/x2 exclusive.
Masks are ``[H, W, N]`` bool, one channel per instance.
"""

from mrcnn.data.boxes import (
    apply_box_deltas,
    box_refinement,
    compute_iou,
    compute_overlaps,
    compute_overlaps_masks,
    denorm_boxes,
    non_max_suppression,
    norm_boxes,
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
