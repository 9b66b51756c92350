"""Tests for mrcnn.modeling.targets (RpnTargets, DetectionTargets) against numpy references of the labelling rules."""

import math

import keras
import numpy as np
from references import iou_reference

from mrcnn.modeling.anchors import level_anchors
from mrcnn.modeling.targets import DetectionTargets, RpnTargets

STD = [0.1, 0.1, 0.2, 0.2]


def np_(x):
    return keras.ops.convert_to_numpy(x)


def encode_reference(box, target):
    y1, x1, y2, x2 = np.asarray(box, np.float64)
    ty1, tx1, ty2, tx2 = np.asarray(target, np.float64)
    h, w, th, tw = y2 - y1, x2 - x1, ty2 - ty1, tx2 - tx1
    deltas = [((ty1 + ty2) - (y1 + y2)) / 2 / h, ((tx1 + tx2) - (x1 + x2)) / 2 / w, math.log(th / h), math.log(tw / w)]
    return np.array(deltas) / np.array(STD)


def crop_reference(mask, box, out_h, out_w):
    """Bilinear samples at bin centres of box (pixels) over mask [H, W]; zero beyond one pixel outside."""
    mask = np.asarray(mask, np.float64)
    height, width = mask.shape
    y1, x1, y2, x2 = (float(v) for v in box)
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        y = y1 + (i + 0.5) * (y2 - y1) / out_h - 0.5
        for j in range(out_w):
            x = x1 + (j + 0.5) * (x2 - x1) / out_w - 0.5
            if y < -1 or y > height or x < -1 or x > width:
                continue
            yc, xc = min(max(y, 0.0), height - 1.0), min(max(x, 0.0), width - 1.0)
            y0, x0 = int(math.floor(yc)), int(math.floor(xc))
            y1_, x1_ = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
            ly, lx = yc - y0, xc - x0
            out[i, j] = (
                (1 - ly) * (1 - lx) * mask[y0, x0]
                + (1 - ly) * lx * mask[y0, x1_]
                + ly * (1 - lx) * mask[y1_, x0]
                + ly * lx * mask[y1_, x1_]
            )
    return out


def assert_mask_matches(got, soft_reference):
    """got in {0, 1} equals soft_reference >= 0.5, except where the reference sits on 0.5 (float round-off)."""
    clear = np.abs(soft_reference - 0.5) > 1e-4
    np.testing.assert_array_equal(got[clear], (soft_reference >= 0.5)[clear].astype(np.float32))
    assert clear.mean() > 0.8


# ------------------------------------------------------------------------------------------------
# RpnTargets
# ------------------------------------------------------------------------------------------------


def rpn_reference(anchors, class_ids, gt_boxes):
    """(positive [A], negative [A], matched gt [A]) by the rules, in float64 loops."""
    ious = iou_reference(anchors, gt_boxes)
    objects, crowds = class_ids > 0, class_ids < 0
    object_ious = np.where(objects[None], ious, -1.0)
    max_iou = object_ious.max(axis=1)
    positive = max_iou >= 0.7
    for g in np.flatnonzero(objects):
        best = ious[:, g].max()
        if best > 0:
            positive |= ious[:, g] == best
    crowd_iou = np.where(crowds[None], ious, 0.0).max(axis=1)
    negative = (max_iou < 0.3) & ~positive & (crowd_iou < 0.001)
    return positive, negative, object_ious.argmax(axis=1), object_ious, ious


def assert_clear_of_thresholds(anchors, class_ids, gt_boxes):
    """Guard the test data: no IoU near 0.3 / 0.7 and a unique best anchor per object (float32 safety)."""
    _, _, _, object_ious, _ = rpn_reference(anchors, class_ids, gt_boxes)
    assert np.all(np.abs(object_ious - 0.7) > 1e-4) and np.all(np.abs(object_ious - 0.3) > 1e-4)
    for g in np.flatnonzero(class_ids > 0):
        top = np.sort(object_ious[:, g])[-2:]
        assert top[1] - top[0] > 1e-4


def _rpn_case():
    anchors = np_(level_anchors(16, 16, 2, 8.0, [0.5, 1.0, 2.0])) / 32.0  # 768 anchors on a 32x32 image
    px = np.array(
        [
            [[5, 5, 13, 13], [17.3, 18.2, 23.0, 29.6], [20, 0, 32, 12], [5, 21, 13, 29]],
            [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
        ],
        np.float32,
    )
    # object (aligned with an anchor: IoU 1), object (best IoU 0.64: positive only as its best anchor),
    # crowd, padding (class 0 with a real box: must match nothing).
    class_ids = np.array([[1, 2, -1, 0], [0, 0, 0, 0]], np.int32)
    return anchors.astype(np.float32), class_ids, px / 32.0


def test_rpn_targets_follow_the_labelling_rules():
    anchors, class_ids, gt_boxes = _rpn_case()
    assert_clear_of_thresholds(anchors, class_ids[0], gt_boxes[0])
    match, deltas = RpnTargets(64, STD, seed=3)([anchors, class_ids, gt_boxes])
    match, deltas = np_(match), np_(deltas)
    assert match.shape == (2, len(anchors)) and deltas.shape == (2, len(anchors), 4)
    assert set(np.unique(match)) <= {-1, 0, 1}

    positive, negative, matched, _, ious = rpn_reference(anchors, class_ids[0], gt_boxes[0])
    assert 2 <= positive.sum() <= 32
    np.testing.assert_array_equal(match[0] == 1, positive)  # few positives: every one is sampled
    assert np.all(negative[match[0] == -1])
    assert (match[0] != 0).sum() == 64
    # Each object's best anchor is positive, including the exactly aligned one (IoU 1).
    for g in (0, 1):
        assert match[0, np.argmax(ious[:, g])] == 1
    # Anchors touching the crowd box are never negatives; the padding row (class 0) matches nothing.
    assert np.all(match[0][ious[:, 2] > 0.001] != -1)
    assert (ious[:, 3] >= 0.7).sum() >= 1 and np.all(match[0][ious[:, 3] >= 0.7] != 1)
    for a in np.flatnonzero(match[0] == 1):
        np.testing.assert_allclose(
            deltas[0, a], encode_reference(anchors[a], gt_boxes[0, matched[a]]), rtol=1e-4, atol=1e-4
        )
    # The image without ground truth: no positives, all samples negative.
    assert not np.any(match[1] == 1)
    assert (match[1] == -1).sum() == 64


def test_rpn_targets_cap_positives_at_half():
    anchors = (np_(level_anchors(32, 32, 1, 8.0, [1.0])) / 32.0).astype(np.float32)  # stride 1: dense
    gt_boxes = np.array([[[7.5, 7.5, 15.5, 15.5], [19.5, 19.5, 27.5, 27.5]]], np.float32) / 32.0
    class_ids = np.array([[1, 1]], np.int32)
    positive, negative, _, _, _ = rpn_reference(anchors, class_ids[0], gt_boxes[0])
    assert positive.sum() == 10  # per box: the aligned anchor and the four shifted by one pixel
    layer = RpnTargets(8, STD, seed=0)
    for _ in range(3):
        match = np_(layer([anchors, class_ids, gt_boxes])[0])[0]
        assert (match == 1).sum() == 4
        assert (match == -1).sum() == 4
        assert np.all(positive[match == 1]) and np.all(negative[match == -1])


def test_rpn_targets_get_config():
    layer = RpnTargets(256, STD, seed=5)
    assert RpnTargets.from_config(layer.get_config()).get_config()["anchors_per_image"] == 256


# ------------------------------------------------------------------------------------------------
# DetectionTargets
# ------------------------------------------------------------------------------------------------


def _rows(array):
    return {tuple(np.round(np.asarray(r, np.float64), 5)) for r in array}


def check_detection_slots(out, proposals, class_ids, gt_boxes, positive_slots):
    """Compare the per-slot outputs of one image with the rules (float64 reference)."""
    rois, ids, deltas, _, valid = out
    objects = class_ids > 0
    for k in range(len(rois)):
        if valid[k] == 0:
            assert np.all(rois[k] == 0) and ids[k] == 0 and np.all(deltas[k] == 0)
            continue
        ious = iou_reference(rois[k : k + 1], gt_boxes)[0]
        object_ious = np.where(objects, ious, -1.0)
        g = int(np.argmax(object_ious))
        if k < positive_slots:
            assert object_ious[g] >= 0.5 and ids[k] == class_ids[g] > 0
            np.testing.assert_allclose(deltas[k], encode_reference(rois[k], gt_boxes[g]), rtol=1e-4, atol=1e-4)
        else:
            assert ids[k] == 0 and np.all(deltas[k] == 0)
            assert object_ious.max() < 0.5
            assert np.all(ious[class_ids < 0] < 0.001)  # never a negative that touches a crowd
        assert _rows(rois[k : k + 1]) <= _rows(np.concatenate([proposals, gt_boxes]))


def _outputs(layer, *inputs):
    return [np_(t) for t in layer(list(inputs))]


def test_detection_targets_positives_first_with_matched_class_and_deltas():
    gt_boxes = np.array([[[0.125, 0.125, 0.5, 0.5], [0.5, 0.5, 0.875, 0.9375], [0, 0, 0, 0]]], np.float32)
    class_ids = np.array([[1, 2, 0]], np.int32)
    proposals = np.array(
        [
            [
                [0.14, 0.12, 0.5, 0.52],  # IoU ~0.9 with gt 0
                [0.52, 0.5, 0.9, 0.9],  # IoU ~0.8 with gt 1
                [0.0, 0.6, 0.2, 0.9],  # background
                [0.9, 0.0, 1.0, 0.1],  # background
                [0.0, 0.0, 0.0, 0.0],  # padding proposal: never sampled
                [0.3, 0.3, 0.6, 0.6],  # IoU < 0.5 with both
            ]
        ],
        np.float32,
    )
    masks = np.ones((1, 3, 8, 8), np.uint8)
    layer = DetectionTargets(8, 0.5, (4, 4), True, STD, seed=0)
    assert layer.positive_slots == 4
    rois, ids, deltas, mask_targets, valid = _outputs(layer, proposals, class_ids, gt_boxes, masks)
    assert rois.shape == (1, 8, 4) and ids.shape == (1, 8) and deltas.shape == (1, 8, 4)
    assert mask_targets.shape == (1, 4, 4, 4) and valid.shape == (1, 8)
    np.testing.assert_array_equal(valid[0], [1, 1, 1, 1, 1, 1, 1, 0])  # 4 positives, 3 negatives
    assert np.all(ids[0, :4] > 0) and np.all(ids[0, 4:] == 0)
    assert _rows(rois[0, :4]) == _rows([proposals[0, 0], proposals[0, 1], gt_boxes[0, 0], gt_boxes[0, 1]])
    assert _rows(rois[0, 4:7]) == _rows(proposals[0, [2, 3, 5]])
    check_detection_slots(
        [o[0] for o in (rois, ids, deltas, mask_targets, valid)], proposals[0], class_ids[0], gt_boxes[0], 4
    )
    assert set(np.unique(mask_targets)) <= {0.0, 1.0}


def test_detection_targets_gt_boxes_yield_positives_and_empty_image_gives_none():
    """Image 0: proposals far from the GT, so the appended GT boxes are the positives.
    Image 1: no ground truth at all (all padding): no positives, only negatives, no NaN."""
    gt_boxes = np.array([[[0.5, 0.5, 1.0, 1.0], [0.0, 0.5, 0.25, 1.0]], [[0, 0, 0, 0], [0, 0, 0, 0]]], np.float32)
    class_ids = np.array([[3, 1], [0, 0]], np.int32)
    far = [[0.0, 0.0, 0.2, 0.2], [0.3, 0.0, 0.5, 0.3], [0.6, 0.0, 0.9, 0.2], [0, 0, 0, 0]]
    proposals = np.array([far, far], np.float32)
    masks = np.zeros((2, 2, 6, 6), np.uint8)
    layer = DetectionTargets(6, 0.5, (4, 4), True, STD, seed=1)
    rois, ids, deltas, mask_targets, valid = _outputs(layer, proposals, class_ids, gt_boxes, masks)
    # Image 0: both GT boxes are positives with zero deltas; the 3 far proposals are negatives.
    np.testing.assert_array_equal(valid[0], [1, 1, 0, 1, 1, 1])
    assert _rows(rois[0, :2]) == _rows(gt_boxes[0])
    assert sorted(ids[0, :2].tolist()) == [1, 3]
    np.testing.assert_allclose(deltas[0, :2], 0.0, atol=1e-6)
    for image in range(2):
        check_detection_slots(
            [o[image] for o in (rois, ids, deltas, mask_targets, valid)],
            proposals[image],
            class_ids[image],
            gt_boxes[image],
            3,
        )
    # Image 1: nothing positive, the three real proposals sampled as negatives, all finite.
    np.testing.assert_array_equal(valid[1], [0, 0, 0, 1, 1, 1])
    assert np.all(ids[1] == 0)
    assert _rows(rois[1, 3:]) == _rows(far[:3])
    for value in (rois, deltas, mask_targets, valid):
        assert np.all(np.isfinite(value))


def test_detection_targets_crowd_is_never_positive_nor_near_a_negative():
    crowd = [0.25, 0.25, 0.75, 0.75]
    gt_boxes = np.array([[[0.0, 0.0, 0.25, 0.25], crowd], [crowd, [0, 0, 0, 0]]], np.float32)
    class_ids = np.array([[1, -1], [-1, 0]], np.int32)
    proposals = np.array(
        [
            [
                crowd,
                [0.3, 0.25, 0.75, 0.75],
                [0.7, 0.7, 1.0, 1.0],
                [0.8, 0.0, 1.0, 0.2],
                [0.0, 0.05, 0.25, 0.25],
            ]
        ]
        * 2,
        np.float32,
    )
    masks = np.ones((2, 2, 4, 4), np.uint8)
    layer = DetectionTargets(8, 0.25, (4, 4), True, STD, seed=2)
    rois, ids, deltas, mask_targets, valid = _outputs(layer, proposals, class_ids, gt_boxes, masks)
    assert np.all(ids >= 0)
    for image in range(2):
        check_detection_slots(
            [o[image] for o in (rois, ids, deltas, mask_targets, valid)],
            proposals[image],
            class_ids[image],
            gt_boxes[image],
            2,
        )
        sampled = rois[image][valid[image] > 0]
        assert not (_rows([crowd]) & _rows(sampled))  # the crowd box (and what overlaps it) is never sampled
    # Image 0: the object and the proposal covering 80% of it are the positives, both class 1.
    assert ids[0, :2].tolist() == [1, 1]
    # Image 1 has only a crowd: no positives. Negatives: the far corner box and [0, .05, .25, .25], which
    # meets the crowd only at a corner (IoU 0); [0.7, 0.7, 1, 1] overlaps it (IoU 0.007) so it is unused.
    assert np.all(ids[1] == 0) and valid[1, :2].sum() == 0
    assert _rows(rois[1][valid[1] > 0]) == _rows([[0.8, 0.0, 1.0, 0.2], [0.0, 0.05, 0.25, 0.25]])


def _block_mask(rng, blocks, block):
    pattern = rng.integers(0, 2, (blocks, blocks)).astype(np.uint8)
    return pattern, np.kron(pattern, np.ones((block, block), np.uint8))


def _single_gt_case(masks, proposals):
    gt_box = [0.25, 0.25, 0.75, 0.75]
    gt_boxes = np.array([[gt_box, [0, 0, 0, 0]]], np.float32)
    class_ids = np.array([[1, 0]], np.int32)
    return np.array([proposals], np.float32), class_ids, gt_boxes, masks


def _positive_mask(out, roi):
    rois, ids, _, mask_targets, _ = out
    slots = [k for k in range(mask_targets.shape[1]) if ids[0, k] > 0 and np.allclose(rois[0, k], roi, atol=1e-6)]
    assert len(slots) == 1, f"ROI {roi} is not exactly one positive slot"
    return mask_targets[0, slots[0]]


def test_mini_mask_targets_whole_box_and_left_half():
    rng = np.random.default_rng(0)
    pattern, mini = _block_mask(rng, 4, 2)  # 8x8 mini mask made of 2x2 blocks
    left_half = [0.25, 0.25, 0.75, 0.5]  # IoU exactly 0.5 with the GT box -> positive
    case = _single_gt_case(np.stack([mini, np.zeros_like(mini)])[None], [left_half])
    out = _outputs(DetectionTargets(4, 0.5, (4, 4), True, STD, seed=0), *case)
    # The ROI equal to the GT box reads the whole mini mask, 8x8 -> 4x4: the block pattern.
    np.testing.assert_array_equal(_positive_mask(out, [0.25, 0.25, 0.75, 0.75]), pattern)
    # The left-half ROI reads mini-mask columns 0..3, stretched over the 4 output columns.
    np.testing.assert_array_equal(_positive_mask(out, left_half), np.repeat(pattern[:, :2], 2, axis=1))


def test_mini_mask_targets_match_bilinear_reference():
    rng = np.random.default_rng(1)
    mini = (rng.random((10, 10)) > 0.5).astype(np.uint8)
    left_half = [0.25, 0.25, 0.75, 0.5]
    case = _single_gt_case(np.stack([mini, np.zeros_like(mini)])[None], [left_half])
    out = _outputs(DetectionTargets(4, 0.5, (6, 6), True, STD, seed=0), *case)
    whole = crop_reference(mini, (0, 0, 10, 10), 6, 6)
    assert np.all(np.abs(whole - 0.5) > 1e-3)  # 10 -> 6 gives weights in ninths: never on the threshold
    assert_mask_matches(_positive_mask(out, [0.25, 0.25, 0.75, 0.75]), whole)
    assert_mask_matches(_positive_mask(out, left_half), crop_reference(mini, (0, 0, 10, 5), 6, 6))


def test_full_image_mask_targets_are_cropped():
    rng = np.random.default_rng(2)
    pattern = rng.integers(0, 2, (4, 4)).astype(np.uint8)
    full = np.zeros((16, 16), np.uint8)
    full[4:12, 4:12] = np.kron(pattern, np.ones((2, 2), np.uint8))  # the GT box is pixels 4..12
    full[0:4, :] = 1  # outside the box: must not leak into the target of the GT-sized ROI
    shifted = [0.3125, 0.25, 0.75, 0.75]  # rows 5..12 -> IoU 0.875
    case = _single_gt_case(np.stack([full, np.zeros_like(full)])[None], [shifted])
    out = _outputs(DetectionTargets(4, 0.5, (4, 4), False, STD, seed=0), *case)
    np.testing.assert_array_equal(_positive_mask(out, [0.25, 0.25, 0.75, 0.75]), pattern)
    assert_mask_matches(_positive_mask(out, shifted), crop_reference(full, (5, 4, 12, 12), 4, 4))


def test_detection_targets_get_config():
    layer = DetectionTargets(200, 0.33, [28, 28], True, STD, seed=4)
    clone = DetectionTargets.from_config(layer.get_config())
    assert clone.mask_shape == (28, 28) and clone.positive_slots == 66 and clone.use_mini_mask
