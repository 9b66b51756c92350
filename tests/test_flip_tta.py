"""Flip test-time augmentation: mirroring results back, pairing by mask IoU, score averaging."""

import numpy as np
import pytest

from mrcnn.inference import flip_tta


def _result(boxes, scores, class_ids=None, shape=(20, 30)):
    masks = np.zeros(shape + (len(boxes),), bool)
    for k, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1:y2, x1:x2, k] = True
    return {
        "rois": np.array(boxes, np.int32).reshape(-1, 4),
        "scores": np.array(scores, np.float32),
        "class_ids": np.array(class_ids or [1] * len(boxes), np.int32),
        "masks": masks,
    }


def test_mirror_maps_boxes_and_masks_back():
    result = _result([(2, 3, 8, 10)], [0.9])
    flipped = flip_tta.mirror(result, width=30)
    assert flipped["rois"].tolist() == [[2, 20, 8, 27]]
    ys, xs = np.nonzero(flipped["masks"][:, :, 0])
    assert (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1) == (2, 20, 8, 27)
    twice = flip_tta.mirror(flipped, width=30)
    np.testing.assert_array_equal(twice["rois"], result["rois"])
    np.testing.assert_array_equal(twice["masks"], result["masks"])


def test_agreed_detections_average_and_one_view_detections_halve():
    plain = _result([(0, 0, 10, 10), (12, 20, 18, 28)], [0.9, 0.8])
    mirrored = _result([(0, 1, 10, 10), (12, 0, 18, 6)], [0.7, 0.6])
    merged = flip_tta.merge(plain, mirrored, max_instances=10, nms_threshold=0.3)
    np.testing.assert_allclose(merged["scores"], [0.8, 0.4, 0.3])  # (0.9+0.7)/2, 0.8/2, 0.6/2
    assert merged["rois"].tolist() == [[0, 0, 10, 10], [12, 20, 18, 28], [12, 0, 18, 6]]
    assert merged["masks"].shape == (20, 30, 3) and merged["masks"][:, :, 2].sum() == 36


def test_other_classes_and_weak_overlaps_do_not_pair():
    plain = _result([(0, 0, 10, 10)], [0.9], class_ids=[1])
    other_class = _result([(0, 0, 10, 10)], [0.9], class_ids=[2])
    weak = _result([(0, 6, 10, 16)], [0.9])  # IoU 40/160: neither paired nor suppressed at NMS 0.3
    for mirrored in (other_class, weak):
        merged = flip_tta.merge(plain, mirrored, max_instances=10, nms_threshold=0.3)
        np.testing.assert_allclose(merged["scores"], [0.45, 0.45])


def test_each_mirrored_detection_pairs_once_and_the_cap_applies():
    plain = _result([(0, 0, 10, 10), (0, 0, 10, 9)], [0.9, 0.8])
    mirrored = _result([(0, 0, 10, 10)], [0.7])
    merged = flip_tta.merge(plain, mirrored, max_instances=1, nms_threshold=0.3)
    np.testing.assert_allclose(merged["scores"], [0.8])
    assert merged["masks"].shape == (20, 30, 1)


def test_empty_passes_merge_to_empty_or_halved():
    empty = _result([], [])
    assert len(flip_tta.merge(empty, empty, 5, 0.3)["scores"]) == 0
    one = _result([(0, 0, 4, 4)], [0.6])
    np.testing.assert_allclose(flip_tta.merge(empty, one, 5, 0.3)["scores"], [0.3])


def test_an_unpaired_mirrored_duplicate_is_suppressed_like_nms():
    plain = _result([(0, 0, 10, 10)], [0.9])
    mirrored = _result([(0, 4, 10, 14)], [0.8])  # IoU 60/140 = 0.43: no pair (< 0.5) but > NMS 0.3
    merged = flip_tta.merge(plain, mirrored, max_instances=10, nms_threshold=0.3)
    np.testing.assert_allclose(merged["scores"], [0.45])
    assert flip_tta.merge(plain, mirrored, max_instances=10, nms_threshold=0.5)["scores"].size == 2


def test_masks_one_pixel_past_their_rois_still_pair():
    plain, mirrored = _result([(2, 2, 4, 4)], [0.9]), _result([(2, 2, 4, 4)], [0.7])
    plain["masks"][4, 2:4, 0] = mirrored["masks"][4, 2:4, 0] = True  # rows 2..4, roi says 2..3
    assert flip_tta.mask_overlaps(plain, mirrored)[0, 0] == 1.0
    mirrored["masks"][2:4, 2:4, 0] = False  # only the row outside the roi is left
    assert flip_tta.mask_overlaps(plain, mirrored)[0, 0] == pytest.approx(2 / 6)
