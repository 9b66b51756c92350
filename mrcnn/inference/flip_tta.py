"""Horizontal-flip test-time augmentation: detect on the image and on its mirror, trust what both find.

Each detection of the plain pass is paired with the unused mirrored-pass detection of the same class
whose mask overlaps it most (IoU >= MATCH_IOU). A pair keeps the plain pass's box and mask and the mean
of its two scores; a detection only one pass made keeps half its score (the other pass gave it 0).
An unpaired mirrored detection whose box overlaps a plain one of its class by more than the NMS
threshold is dropped, as that pass's own NMS would have: it is the same object, masked differently.
Objects seen both ways therefore rank above one-view detections, which on balloon are mostly false
positives (samples/balloon/README.md). It costs a second forward pass.
"""

import numpy as np

from mrcnn.data.boxes import compute_overlaps, compute_overlaps_masks

MATCH_IOU = 0.5


def mirror(result, width):
    """A detect() result for a mirrored image, mapped back onto the original (`width` pixels wide)."""
    rois = np.asarray(result["rois"]).reshape(-1, 4)
    return dict(
        result,
        rois=np.stack([rois[:, 0], width - rois[:, 3], rois[:, 2], width - rois[:, 1]], axis=1),
        masks=result["masks"][:, ::-1],
    )


def box_overlaps(plain, mirrored):
    """Box IoU [N1, N2] of two results' detections, 0 between different classes."""
    overlaps = compute_overlaps(plain["rois"], mirrored["rois"])
    overlaps[plain["class_ids"][:, None] != mirrored["class_ids"][None, :]] = 0
    return overlaps


def mask_overlaps(plain, mirrored):
    """Mask IoU [N1, N2] of two results' detections of the same class, computed only where boxes meet."""
    overlaps = box_overlaps(plain, mirrored)
    height, width = plain["masks"].shape[:2]
    for i, j in zip(*np.nonzero(overlaps)):
        # Masks may reach one pixel past their rounded rois (mrcnn.data.masks.paste_masks).
        y1, x1 = np.maximum(np.minimum(plain["rois"][i, :2], mirrored["rois"][j, :2]) - 1, 0)
        y2, x2 = np.minimum(np.maximum(plain["rois"][i, 2:], mirrored["rois"][j, 2:]) + 1, (height, width))
        overlaps[i, j] = compute_overlaps_masks(
            plain["masks"][y1:y2, x1:x2, i : i + 1], mirrored["masks"][y1:y2, x1:x2, j : j + 1]
        )[0, 0]
    return overlaps


def _pairs(plain, mirrored):
    """{plain index: mirrored index} greedily by plain score, best mask IoU first, same class only."""
    overlaps = mask_overlaps(plain, mirrored)
    pairs = {}
    for i in np.argsort(-plain["scores"], kind="stable"):
        candidates = overlaps[i].copy()
        candidates[list(pairs.values())] = 0
        j = int(np.argmax(candidates)) if candidates.size else -1
        if j >= 0 and candidates[j] >= MATCH_IOU:
            pairs[int(i)] = j
    return pairs


def _unpaired(plain, mirrored, pairs, nms_threshold):
    """Indices of mirrored detections neither paired nor overlapping a plain one beyond nms_threshold."""
    keep = ~(box_overlaps(plain, mirrored) > nms_threshold).any(axis=0)
    keep[list(pairs.values())] = False
    return np.flatnonzero(keep)


def merge(plain, mirrored, max_instances, nms_threshold):
    """One result from the plain and (already mirrored back) flipped passes, best score first."""
    pairs = _pairs(plain, mirrored)
    scores = plain["scores"] / 2
    for i, j in pairs.items():
        scores[i] = (plain["scores"][i] + mirrored["scores"][j]) / 2
    extra = _unpaired(plain, mirrored, pairs, nms_threshold)
    merged = {
        "rois": np.concatenate([plain["rois"], mirrored["rois"][extra]]).astype(np.int32),
        "class_ids": np.concatenate([plain["class_ids"], mirrored["class_ids"][extra]]).astype(np.int32),
        "scores": np.concatenate([scores, mirrored["scores"][extra] / 2]).astype(np.float32),
        "masks": np.concatenate([plain["masks"], mirrored["masks"][:, :, extra]], axis=2),
    }
    order = np.argsort(-merged["scores"], kind="stable")[:max_instances]
    return {key: value[..., order] if key == "masks" else value[order] for key, value in merged.items()}
