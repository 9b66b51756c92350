"""Tests for mrcnn.modeling.boxes: encode/decode, clipping of wild deltas, IoU against a loop reference."""

import keras
import numpy as np
from references import iou_reference

from mrcnn.modeling import boxes

STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)


def np_(x):
    return keras.ops.convert_to_numpy(x)


def random_boxes(rng, shape, low=0.0, high=100.0, min_size=1.0):
    y1 = rng.uniform(low, high, shape)
    x1 = rng.uniform(low, high, shape)
    h = rng.uniform(min_size, 50.0, shape)
    w = rng.uniform(min_size, 50.0, shape)
    return np.stack([y1, x1, y1 + h, x1 + w], axis=-1).astype(np.float32)


def test_encode_hand_computed():
    box = np.array([[0.0, 0.0, 10.0, 10.0]], np.float32)
    target = np.array([[5.0, 5.0, 25.0, 15.0]], np.float32)  # centre (15, 10), 20 high, 10 wide
    got = np_(boxes.encode(box, target, STD))
    np.testing.assert_allclose(got, [[1.0 / 0.1, 0.5 / 0.1, np.log(2.0) / 0.2, 0.0]], rtol=1e-5, atol=1e-6)


def test_encode_decode_round_trip_with_batch_dims():
    rng = np.random.default_rng(0)
    anchors = random_boxes(rng, (2, 50))
    targets = random_boxes(rng, (2, 50))
    deltas = boxes.encode(anchors, targets, STD)
    assert tuple(deltas.shape) == (2, 50, 4)
    np.testing.assert_allclose(np_(boxes.decode(anchors, deltas, STD)), targets, rtol=1e-4, atol=1e-3)
    # And the other way: decode then encode gives back moderate deltas.
    some = rng.normal(0, 1, (2, 50, 4)).astype(np.float32)
    np.testing.assert_allclose(
        np_(boxes.encode(anchors, boxes.decode(anchors, some, STD), STD)), some, rtol=1e-3, atol=1e-3
    )


def test_decode_clips_huge_log_scale_deltas():
    anchor = np.array([[0.2, 0.2, 0.3, 0.4]], np.float32)  # 0.1 high, 0.2 wide, centre (0.25, 0.3)
    huge = np.array([[0.0, 0.0, 1e4, 1e4]], np.float32)
    got = np_(boxes.decode(anchor, huge, STD))
    assert np.all(np.isfinite(got))
    scale = np.exp(4.135)  # log(1000 / 16)
    np.testing.assert_allclose(got[0, 2] - got[0, 0], 0.1 * scale, rtol=1e-4)
    np.testing.assert_allclose(got[0, 3] - got[0, 1], 0.2 * scale, rtol=1e-4)
    np.testing.assert_allclose((got[0, 0] + got[0, 2]) / 2, 0.25, atol=1e-5)
    tiny = np_(boxes.decode(anchor, -huge, STD))
    assert np.all(np.isfinite(tiny))
    np.testing.assert_allclose(tiny[0], [0.25, 0.3, 0.25, 0.3], atol=1e-6)  # collapses onto the centre


def test_iou_matches_loop_reference_with_zero_area_boxes():
    rng = np.random.default_rng(1)
    a = random_boxes(rng, (7,), high=30.0)
    b = np.concatenate(
        [
            random_boxes(rng, (5,), high=30.0),
            a[:2],  # identical boxes -> IoU 1
            [[10.0, 10.0, 10.0, 20.0], [5.0, 5.0, 5.0, 5.0], [0.0, 0.0, 0.0, 0.0]],  # zero area
            [[20.0, 20.0, 10.0, 10.0]],  # inverted (negative extent) counts as empty
        ]
    ).astype(np.float32)
    got = np_(boxes.iou(a, b))
    expected = iou_reference(a, b)
    assert got.shape == (7, 11)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got[[0, 1], [5, 6]], 1.0, atol=1e-6)
    assert np.all(got[:, 7:] == 0.0)
    zero_vs_zero = np_(boxes.iou(b[7:10], b[7:10]))
    assert np.all(np.isfinite(zero_vs_zero)) and np.all(zero_vs_zero == 0.0)


def test_iou_batch_dims():
    rng = np.random.default_rng(2)
    a = random_boxes(rng, (3, 4), high=20.0)
    b = random_boxes(rng, (3, 6), high=20.0)
    got = np_(boxes.iou(a, b))
    assert got.shape == (3, 4, 6)
    for k in range(3):
        np.testing.assert_allclose(got[k], iou_reference(a[k], b[k]), atol=1e-5)
    assert got.max() > 0  # the random boxes do overlap somewhere


def test_area_and_clip():
    b = np.array([[0.0, 0.0, 2.0, 3.0], [1.0, 1.0, 0.0, 4.0], [-0.5, 0.2, 1.5, 0.8]], np.float32)
    np.testing.assert_allclose(np_(boxes.area(b)), [6.0, 0.0, 1.2], rtol=1e-6)
    np.testing.assert_allclose(np_(boxes.clip(b))[2], [0.0, 0.2, 1.0, 0.8])
