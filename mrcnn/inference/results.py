"""The one check of a detect() result dict: rois, class_ids, scores, masks agree on N instances.

Used by the API (mrcnn_api.predictor), the metrics (compute_matches), visualize and the COCO
evaluation, so a malformed result fails the same way, with the same message, everywhere.
"""

import numpy as np


def instance_count(where, rois=None, class_ids=None, scores=None, masks=None):
    """Number of instances N in the arrays given (None = not given); ValueError if they disagree.

    rois: [N, 4]; class_ids, scores: [N]; masks: [H, W, N].
    """
    counts = {}
    if rois is not None:
        counts["rois"] = len(np.asarray(rois).reshape(-1, 4))
    for name, values in (("class_ids", class_ids), ("scores", scores)):
        if values is not None:
            counts[name] = np.size(values)
    if masks is not None:
        counts["masks"] = np.shape(masks)[-1] if np.ndim(masks) else 0
    if len(set(counts.values())) > 1:
        raise ValueError(f"{where}: instance counts disagree: {counts}; pass one roi/mask/class id/score per instance")
    return next(iter(counts.values()), 0)


def check_result(result, image_shape=None, where="result"):
    """Validate a detect() result and return it with the documented dtypes and shapes.

    result: {"rois": [N, (y1, x1, y2, x2)], "class_ids": [N], "scores": [N], "masks": [H, W, N]}.
    image_shape: (H, W, ...) the masks must match (with N = 0 they become [H, W, 0]).
    Returns rois int32 [N, 4], class_ids int32 [N], scores float32 [N], masks bool [H, W, N].
    Raises ValueError naming `where` and what is wrong.
    """
    missing = {"rois", "class_ids", "scores", "masks"} - set(result)
    if missing:
        raise ValueError(
            f"{where}: missing keys {sorted(missing)}; a detect() result has rois, class_ids, scores, masks"
        )
    masks = np.asarray(result["masks"])
    count = instance_count(where, result["rois"], result["class_ids"], result["scores"], masks)
    if count == 0 and image_shape is not None:
        masks = np.zeros(tuple(image_shape[:2]) + (0,), bool)
    if masks.ndim != 3:
        raise ValueError(f"{where}: masks must be [H, W, N], got shape {masks.shape}")
    if image_shape is not None and masks.shape[:2] != tuple(image_shape[:2]):
        raise ValueError(f"{where}: masks are {masks.shape[:2]} but the image is {tuple(image_shape[:2])}")
    return {
        "rois": np.asarray(result["rois"], dtype=np.int32).reshape(count, 4),
        "class_ids": np.asarray(result["class_ids"], dtype=np.int32).reshape(count),
        "scores": np.asarray(result["scores"], dtype=np.float32).reshape(count),
        "masks": masks.astype(bool, copy=False),
    }
