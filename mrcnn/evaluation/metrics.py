"""matterport's per-image metrics: compute_matches, compute_ap, compute_ap_range, compute_recall."""

import numpy as np

from mrcnn.data.boxes import compute_overlaps, compute_overlaps_masks
from mrcnn.inference.results import instance_count


def _drop_padding(boxes, class_ids, masks, scores=None):
    """Remove all-zero (padded) box rows and the matching ids, masks and scores."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    keep = ~np.all(boxes == 0, axis=1)
    masks = np.asarray(masks)
    kept = [boxes[keep], np.asarray(class_ids).reshape(-1)[keep], masks[..., keep]]
    if scores is not None:
        kept.append(np.asarray(scores, dtype=np.float64).reshape(-1)[keep])
    return kept


def compute_matches(
    gt_boxes,
    gt_class_ids,
    gt_masks,
    pred_boxes,
    pred_class_ids,
    pred_scores,
    pred_masks,
    iou_threshold=0.5,
    score_threshold=0.0,
):
    """Greedily match predictions (highest score first) to ground truth by mask IoU and class.

    gt_boxes/pred_boxes: [N, 4] pixels (all-zero rows are padding and are dropped with their
    masks/ids); gt_masks/pred_masks: [H, W, N] bool; *_class_ids: [N]; pred_scores: [N].
    Predictions with score < score_threshold are ignored (matterport applied this number to
    IoUs instead; with the default 0.0 both are no-ops).
    Returns:
      gt_match: [num_gt] index of the matched prediction (in sorted order) or -1;
      pred_match: [num_pred] index of the matched ground truth or -1, predictions sorted by
        descending score;
      overlaps: [num_pred, num_gt] mask IoUs, predictions in the same sorted order.
    """
    instance_count("compute_matches: ground truth", gt_boxes, gt_class_ids, None, gt_masks)
    instance_count("compute_matches: prediction", pred_boxes, pred_class_ids, pred_scores, pred_masks)
    gt_boxes, gt_class_ids, gt_masks = _drop_padding(gt_boxes, gt_class_ids, gt_masks)
    pred_boxes, pred_class_ids, pred_masks, pred_scores = _drop_padding(
        pred_boxes, pred_class_ids, pred_masks, pred_scores
    )
    order = np.argsort(-pred_scores, kind="stable")
    order = order[pred_scores[order] >= score_threshold]
    pred_class_ids, pred_masks = pred_class_ids[order], pred_masks[..., order]
    overlaps = compute_overlaps_masks(pred_masks, gt_masks)
    gt_match = -np.ones(len(gt_class_ids))
    pred_match = -np.ones(len(order))
    for i in range(len(order)):
        for j in np.argsort(-overlaps[i], kind="stable"):
            if overlaps[i, j] < iou_threshold:
                break
            if gt_match[j] == -1 and pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j], pred_match[i] = i, j
                break
    return gt_match, pred_match, overlaps


def _interpolated_ap(pred_match, num_gt):
    """All-point interpolated AP (VOC 2010+) from the sorted match list (num_gt 0: recalls 0/0 = nan)."""
    hits = np.cumsum(pred_match > -1)
    precisions = hits / (np.arange(len(pred_match)) + 1)
    with np.errstate(invalid="ignore"):
        recalls = hits / num_gt
    precisions = np.concatenate([[0.0], precisions, [0.0]])
    recalls = np.concatenate([[0.0], recalls, [1.0]])
    precisions = np.maximum.accumulate(precisions[::-1])[::-1]
    steps = np.where(recalls[1:] != recalls[:-1])[0] + 1
    ap = float(np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps]))
    return ap, precisions, recalls


def compute_ap(
    gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks, iou_threshold=0.5
):
    """Average precision of one image at one mask-IoU threshold (all-point interpolated, VOC style).

    Inputs as compute_matches. Returns (mAP, precisions, recalls, overlaps); precisions/recalls
    are the padded, monotone curve ([0, ...] and [..., 1]).
    Edge cases, as matterport's formula gives them: ground truth but no predictions -> 0.0; no ground
    truth and no predictions -> 0.0; no ground truth but predictions -> nan (recall is 0/0; without
    matterport's RuntimeWarning). Leave such images out of a mean (evaluate_coco does).
    """
    gt_match, pred_match, overlaps = compute_matches(
        gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks, iou_threshold
    )
    ap, precisions, recalls = _interpolated_ap(pred_match, len(gt_match))
    return ap, precisions, recalls, overlaps


def compute_ap_range(
    gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask, iou_thresholds=None, verbose=1
):
    """Mean of compute_ap over IoU thresholds (default 0.50:0.05:0.95, COCO style). Returns a float."""
    if iou_thresholds is None:
        iou_thresholds = np.arange(0.5, 1.0, 0.05)
    aps = []
    for threshold in iou_thresholds:
        ap = compute_ap(
            gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask, iou_threshold=threshold
        )[0]
        aps.append(ap)
        if verbose:
            print(f"AP @ IoU {threshold:.2f}: {ap:.3f}")
    mean_ap = float(np.mean(aps))
    if verbose:
        print(f"AP @ IoU {iou_thresholds[0]:.2f}-{iou_thresholds[-1]:.2f}: {mean_ap:.3f}")
    return mean_ap


def compute_recall(pred_boxes, gt_boxes, iou):
    """Box recall: share of GT boxes that some prediction overlaps with IoU >= iou.

    pred_boxes: [N, 4], gt_boxes: [M, 4] pixels. Returns (recall, positive_ids) where positive_ids
    are the indices of predictions whose best IoU >= iou. No ground truth -> recall 1.0.
    """
    pred_boxes = np.asarray(pred_boxes).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4)
    if len(gt_boxes) == 0:
        return 1.0, np.zeros([0], dtype=np.int64)
    if len(pred_boxes) == 0:
        return 0.0, np.zeros([0], dtype=np.int64)
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    positive_ids = np.where(overlaps.max(axis=1) >= iou)[0]
    matched = np.unique(overlaps.argmax(axis=1)[positive_ids])
    return len(matched) / len(gt_boxes), positive_ids
