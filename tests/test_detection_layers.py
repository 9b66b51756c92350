"""Tests for ProposalLayer, DetectionLayer, KeptDetections and SelectClassMask against numpy references."""

import math

import keras
import numpy as np

from mrcnn.modeling.detection import DetectionLayer, KeptDetections, SelectClassMask
from mrcnn.modeling.proposals import ProposalLayer

STD = np.array([0.1, 0.1, 0.2, 0.2])


def np_(x):
    return keras.ops.convert_to_numpy(x)


def iou1(a, b):
    """IoU of two boxes in float64 (0 when either is empty)."""
    area_a = max(a[2] - a[0], 0) * max(a[3] - a[1], 0)
    area_b = max(b[2] - b[0], 0) * max(b[3] - b[1], 0)
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    return inter / (area_a + area_b - inter) if area_a > 0 and area_b > 0 else 0.0


def decode_clip(box, delta):
    y1, x1, y2, x2 = np.asarray(box, np.float64)
    dy, dx, dh, dw = np.asarray(delta, np.float64) * STD
    h, w = y2 - y1, x2 - x1
    cy, cx = y1 + 0.5 * h + dy * h, x1 + 0.5 * w + dx * w
    h, w = h * math.exp(min(dh, 4.135)), w * math.exp(min(dw, 4.135))
    return np.clip([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], 0.0, 1.0)


def greedy_nms(boxes, scores, threshold):
    """Indices kept by greedy NMS (suppress when IoU > threshold), in descending score order."""
    keep = []
    for i in sorted(range(len(scores)), key=lambda k: -scores[k]):
        if all(iou1(boxes[i], boxes[j]) <= threshold for j in keep):
            keep.append(i)
    return keep


# ------------------------------------------------------------------------------------------------
# ProposalLayer
# ------------------------------------------------------------------------------------------------


def proposals_reference(probs, deltas, anchors, pre_nms_limit, count, threshold):
    out = np.zeros((len(probs), count, 4))
    for b in range(len(probs)):
        order = np.argsort(-probs[b, :, 1], kind="stable")[:pre_nms_limit]
        boxes = [decode_clip(anchors[a], deltas[b, a]) for a in order]
        keep = greedy_nms(boxes, probs[b, order, 1], threshold)[:count]
        for slot, k in enumerate(keep):
            out[b, slot] = boxes[k]
    return out


ANCHORS = np.array(
    [
        [0.1, 0.1, 0.4, 0.4],  # best
        [0.12, 0.1, 0.42, 0.4],  # IoU ~0.88 with the best: suppressed
        [0.5, 0.5, 0.9, 0.9],
        [0.0, 0.6, 0.2, 0.9],  # its delta pushes it past the top edge: clipped
        [0.6, 0.0, 0.9, 0.3],  # low score: cut by pre_nms_limit
        [0.55, 0.5, 0.95, 0.9],
    ],
    np.float32,
)


def test_proposal_layer_keeps_top_non_overlapping_boxes_and_pads():
    scores = np.array([[0.95, 0.9, 0.8, 0.6, 0.3, 0.5], [0.1, 0.2, 0.3, 0.4, 0.9, 0.8]], np.float32)
    probs = np.stack([1 - scores, scores], axis=-1)
    deltas = np.zeros((2, 6, 4), np.float32)
    deltas[:, 3] = [-3.0, 0.0, 0.5, 0.0]  # centre up by 0.3 * 0.2 = 0.06, 1.1x taller -> y1 < 0
    layer = ProposalLayer(pre_nms_limit=4, proposal_count=5, nms_threshold=0.7, std_dev=STD)
    got = np_(layer([probs, deltas, ANCHORS]))
    assert got.shape == (2, 5, 4)
    np.testing.assert_allclose(got, proposals_reference(probs, deltas, ANCHORS, 4, 5, 0.7), atol=1e-5)
    # Image 0: anchors 0, 2, 3 (1 suppressed, 4 and 5 beyond the top 4), then two zero boxes.
    np.testing.assert_allclose(got[0, :2], ANCHORS[[0, 2]], atol=1e-6)
    assert got[0, 2, 0] == 0.0 and got[0, 2, 1] > 0.5
    assert np.all(got[0, 3:] == 0)
    # Image 1: top 4 are anchors 4, 5, 3, 2; 5 and 2 overlap (IoU 0.78), so 2 is dropped.
    assert np.all(got[1, 3:] == 0) and np.all(got[1, :3, 2] > got[1, :3, 0])
    for b in range(2):
        kept = [box for box in got[b] if box[2] > box[0]]
        assert all(iou1(p, q) <= 0.7 for i, p in enumerate(kept) for q in kept[i + 1 :])


def test_proposal_layer_random_inputs_match_reference():
    rng = np.random.default_rng(0)
    y, x = rng.uniform(0, 0.8, (2, 40)), rng.uniform(0, 0.8, (2, 40))
    h, w = rng.uniform(0.05, 0.3, (2, 40)), rng.uniform(0.05, 0.3, (2, 40))
    anchors = np.stack([y, x, y + h, x + w], -1).reshape(-1, 4).astype(np.float32)  # 80 anchors
    scores = rng.permutation(80)[None].repeat(2, 0) / 80.0 + rng.uniform(0, 1e-3, (2, 80))  # distinct
    probs = np.stack([1 - scores, scores], -1).astype(np.float32)
    deltas = rng.normal(0, 0.5, (2, 80, 4)).astype(np.float32)
    got = np_(ProposalLayer(30, 12, 0.5, STD)([probs, deltas, anchors]))
    np.testing.assert_allclose(got, proposals_reference(probs, deltas, anchors, 30, 12, 0.5), atol=1e-5)


# ------------------------------------------------------------------------------------------------
# DetectionLayer
# ------------------------------------------------------------------------------------------------


def detections_reference(rois, probs, deltas, max_instances, min_confidence, threshold):
    out = np.zeros((len(rois), max_instances, 6))
    for b in range(len(rois)):
        found = []
        for c in range(1, probs.shape[2]):
            live = [
                n for n in range(len(rois[b])) if iou1(rois[b, n], rois[b, n]) > 0 and probs[b, n, c] >= min_confidence
            ]
            boxes = [decode_clip(rois[b, n], deltas[b, n, c]) for n in live]
            scores = [float(probs[b, n, c]) for n in live]
            found += [(scores[k], c, boxes[k]) for k in greedy_nms(boxes, scores, threshold)]
        found.sort(key=lambda item: -item[0])
        for slot, (score, c, box) in enumerate(found[:max_instances]):
            out[b, slot] = [*box, c, score]
    return out


def _detection_case():
    rois = np.array(
        [
            [
                [0.1, 0.1, 0.5, 0.5],
                [0.12, 0.1, 0.52, 0.5],  # overlaps ROI 0, same class, lower score: suppressed
                [0.6, 0.6, 0.9, 0.9],  # two classes above the threshold: two detections
                [0.3, 0.3, 0.3, 0.6],  # zero area (a padded proposal): never a detection
                [0.0, 0.6, 0.2, 0.9],  # every class below min_confidence
                [0.7, 0.0, 0.95, 0.3],
            ]
        ],
        np.float32,
    )
    probs = np.array(
        [
            [
                [0.05, 0.9, 0.05],
                [0.1, 0.8, 0.1],
                [0.02, 0.58, 0.4],
                [0.0, 0.99, 0.01],
                [0.5, 0.25, 0.25],
                [0.2, 0.1, 0.7],
            ]
        ],
        np.float32,
    )
    deltas = np.random.default_rng(0).normal(0, 0.1, (1, 6, 3, 4)).astype(np.float32)
    return rois, probs, deltas


def test_detection_layer_matches_reference():
    rois, probs, deltas = _detection_case()
    got = np_(DetectionLayer(6, 0.3, 0.3, STD)([rois, probs, deltas]))
    assert got.shape == (1, 6, 6)
    expected = detections_reference(rois, probs, deltas, 6, 0.3, 0.3)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # (score, class): ROI 0 class 1, ROI 5 class 2, ROI 2 as class 1 and as class 2; two empty slots.
    np.testing.assert_allclose(got[0, :, 5], [0.9, 0.7, 0.58, 0.4, 0, 0], atol=1e-6)
    np.testing.assert_array_equal(got[0, :, 4], [1, 2, 1, 2, 0, 0])
    assert np.all(np.diff(got[0, :, 5]) <= 0)
    assert np.all(got[0, 4:] == 0)


def test_top_class_rule_scores_each_roi_for_its_top_class_only():
    """matterport's rule (per_class=False): ROI 2 gives class 1 only; ROI 4, whose top class is background,
    gives nothing even below its foreground scores."""
    rois, probs, deltas = _detection_case()
    got = np_(DetectionLayer(6, 0.2, 0.3, STD, per_class=False)([rois, probs, deltas]))
    np.testing.assert_allclose(got[0, :, 5], [0.9, 0.7, 0.58, 0, 0, 0], atol=1e-6)
    np.testing.assert_array_equal(got[0, :, 4], [1, 2, 1, 0, 0, 0])
    assert DetectionLayer.from_config(DetectionLayer(6, 0.2, 0.3, STD, per_class=False).get_config()).per_class is False


def test_config_rule_default_and_files_from_before_the_key():
    from mrcnn.config import Config

    assert Config().DETECTION_PER_CLASS is False  # matterport's rule for new models
    assert Config.from_dict({"NAME": "old"}).DETECTION_PER_CLASS is True  # an old file keeps its rule
    assert Config.from_dict({"DETECTION_PER_CLASS": False}).DETECTION_PER_CLASS is False


def test_detection_layer_truncates_to_max_instances():
    rois, probs, deltas = _detection_case()
    got = np_(DetectionLayer(2, 0.3, 0.3, STD)([rois, probs, deltas]))
    np.testing.assert_allclose(got, detections_reference(rois, probs, deltas, 2, 0.3, 0.3), atol=1e-5)
    np.testing.assert_allclose(got[0, :, 5], [0.9, 0.7], atol=1e-6)


def test_zero_area_rois_never_detect_even_at_zero_confidence():
    rois = np.zeros((2, 4, 4), np.float32)
    rois[0, 0] = [0.2, 0.2, 0.2, 0.5]  # degenerate; the rest are all-zero padding
    rois[1, 0] = [0.1, 0.1, 0.4, 0.4]  # one real ROI in image 1
    probs = np.tile(np.array([0.01, 0.98, 0.01], np.float32), (2, 4, 1))
    deltas = np.ones((2, 4, 3, 4), np.float32)  # would give zero boxes a real size if they were decoded
    got = np_(DetectionLayer(5, 0.0, 0.3, STD)([rois, probs, deltas]))
    assert np.all(got[0] == 0)
    assert (got[1, :, 5] > 0).sum() == 2  # the real ROI, as classes 1 and 2 (score 0.98 and 0.01)
    np.testing.assert_array_equal(got[1, :2, 4], [1, 2])


def test_detection_layer_keeps_score_equal_to_min_confidence():
    rois = np.array([[[0.1, 0.1, 0.5, 0.5]]], np.float32)
    probs = np.array([[[0.5, 0.5]]], np.float32)  # exactly representable
    got = np_(DetectionLayer(3, 0.5, 0.3, STD)([rois, probs, np.zeros((1, 1, 2, 4), np.float32)]))
    np.testing.assert_allclose(got[0, 0], [0.1, 0.1, 0.5, 0.5, 1.0, 0.5], atol=1e-6)


def test_detection_layer_get_config():
    layer = DetectionLayer(100, 0.7, 0.3, STD)
    assert DetectionLayer.from_config(layer.get_config()).get_config()["max_instances"] == 100
    proposal = ProposalLayer(6000, 1000, 0.7, STD)
    assert ProposalLayer.from_config(proposal.get_config()).proposal_count == 1000


# ------------------------------------------------------------------------------------------------
# KeptDetections, SelectClassMask
# ------------------------------------------------------------------------------------------------


def _detections(counts, slots=5):
    det = np.zeros((len(counts), slots, 6), np.float32)
    for b, n in enumerate(counts):
        for k in range(n):
            det[b, k] = [0.1, 0.1, 0.5, 0.5, 1 + k % 2, 0.9 - 0.1 * k]
    return det


def test_kept_detections_trims_to_the_largest_count():
    det = _detections([2, 3])
    got = np_(KeptDetections()(det))
    assert got.shape == (2, 3, 6)
    np.testing.assert_array_equal(got, det[:, :3])


def test_kept_detections_keeps_at_least_one_slot():
    det = _detections([0, 0])
    got = np_(KeptDetections()(det))
    assert got.shape == (2, 1, 6) and np.all(got == 0)
    assert np_(KeptDetections()(_detections([5, 1]))).shape == (2, 5, 6)


def test_select_class_mask_picks_each_detection_class():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 4, 4, 4)).astype(np.float32)
    det = np.zeros((2, 3, 6), np.float32)
    det[..., 4] = [[2, 3, 1], [1, 0, 0]]  # 0 = empty slot
    det[..., 5] = [[0.9, 0.8, 0.7], [0.9, 0.0, 0.0]]
    got = np_(SelectClassMask()([logits, det]))
    assert got.shape == (2, 3, 4, 4)
    for b in range(2):
        for k in range(3):
            c = int(det[b, k, 4])
            np.testing.assert_allclose(
                got[b, k], 1 / (1 + np.exp(-logits[b, k, :, :, c].astype(np.float64))), atol=1e-6
            )
