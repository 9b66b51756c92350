"""Tests for mrcnn.modeling.losses: each loss against hand-computed values on tiny inputs, and empty ground truth."""

import math

import keras
import numpy as np
import pytest

from mrcnn.modeling import losses

LOG2 = math.log(2.0)


def value(x):
    return float(keras.ops.convert_to_numpy(x))


@pytest.mark.parametrize(
    "difference, expected", [(0.5, 0.125), (-0.5, 0.125), (2.0, 1.5), (-2.0, 1.5), (1.0, 0.5), (0.0, 0.0)]
)
def test_smooth_l1(difference, expected):
    np.testing.assert_allclose(value(losses.smooth_l1(np.float32(difference))), expected, rtol=1e-6)


def test_rpn_class_loss_hand_computed():
    match = np.array([[1, -1, 0, 1]], np.int32)
    logits = np.array([[[0.0, 0.0], [0.0, 0.0], [9.0, -9.0], [0.0, math.log(3.0)]]], np.float32)
    # label 1 at (0, 0): log 2; label 0 at (0, 0): log 2; ignored; label 1 with p = 3/4: -log(3/4).
    expected = (LOG2 + LOG2 - math.log(0.75)) / 3
    np.testing.assert_allclose(value(losses.rpn_class_loss(match, logits)), expected, rtol=1e-5)


def test_rpn_bbox_loss_hand_computed():
    match = np.array([[1, -1, 1, 0]], np.int32)
    target = np.zeros((1, 4, 4), np.float32)
    deltas = np.array([[[0.5, 2.0, 0.0, -1.0], [50, 50, 50, 50], [0, 0, 0, 0], [9, 9, 9, 9]]], np.float32)
    # Positives only, averaged over 2 anchors x 4 coordinates: (0.125 + 1.5 + 0 + 0.5 + 0) / 8.
    np.testing.assert_allclose(value(losses.rpn_bbox_loss(match, target, deltas)), 2.125 / 8, rtol=1e-6)


def test_mrcnn_class_loss_hand_computed():
    class_ids = np.array([[2, 0, 1]], np.int32)
    logits = np.array([[[0.0, 0.0, math.log(2.0)], [0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]], np.float32)
    valid = np.array([[1.0, 1.0, 0.0]], np.float32)
    # ROI 0: p(class 2) = 2/4; ROI 1: p(class 0) = 1/3; ROI 2 is padding.
    expected = (-math.log(0.5) + math.log(3.0)) / 2
    np.testing.assert_allclose(value(losses.mrcnn_class_loss(class_ids, logits, valid)), expected, rtol=1e-5)


def test_mrcnn_bbox_loss_uses_the_true_class_deltas():
    class_ids = np.array([[2, 0]], np.int32)
    target = np.array([[[1.0, 0.0, 0.0, 0.0], [7.0, 7.0, 7.0, 7.0]]], np.float32)
    deltas = np.full((1, 2, 3, 4), 100.0, np.float32)  # wrong classes would give a huge loss
    deltas[0, 0, 2] = [0.0, 0.5, 3.0, 0.0]
    # differences 1, -0.5, -3, 0 -> 0.5 + 0.125 + 2.5 + 0, averaged over 4 coordinates of 1 positive.
    np.testing.assert_allclose(value(losses.mrcnn_bbox_loss(class_ids, target, deltas)), 3.125 / 4, rtol=1e-6)


def test_mrcnn_mask_loss_uses_the_true_class_channel():
    class_ids = np.array([[1, 0]], np.int32)
    target = np.array([[[[1.0, 0.0], [1.0, 1.0]], [[1.0, 1.0], [1.0, 1.0]]]], np.float32)  # [1, 2, 2, 2]
    logits = np.full((1, 2, 2, 2, 3), -50.0, np.float32)
    logits[0, 0, :, :, 1] = [[0.0, math.log(3.0)], [math.log(3.0), 50.0]]
    # Pixels: target 1, p 1/2 -> log 2; target 0, p 3/4 -> log 4; target 1, p 3/4 -> log 4/3; ~0.
    expected = (LOG2 + math.log(4.0) + math.log(4.0 / 3.0) + 0.0) / 4
    got = value(losses.mrcnn_mask_loss(class_ids, target, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-4)


def test_empty_ground_truth_gives_zero_box_and_mask_losses():
    rng = np.random.default_rng(0)
    match = -np.ones((2, 6), np.int32)  # only negatives sampled
    rpn_logits = rng.normal(size=(2, 6, 2)).astype(np.float32)
    rpn_deltas = rng.normal(size=(2, 6, 4)).astype(np.float32)
    class_ids = np.zeros((2, 4), np.int32)
    valid = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], np.float32)
    deltas = rng.normal(size=(2, 4, 3, 4)).astype(np.float32)
    mask_logits = rng.normal(size=(2, 2, 5, 5, 3)).astype(np.float32)
    target_masks = np.zeros((2, 2, 5, 5), np.float32)
    zero_targets = np.zeros((2, 6, 4), np.float32)

    assert value(losses.rpn_bbox_loss(match, zero_targets, rpn_deltas)) == 0.0
    assert value(losses.mrcnn_bbox_loss(class_ids, np.zeros((2, 4, 4), np.float32), deltas)) == 0.0
    assert value(losses.mrcnn_mask_loss(class_ids[:, :2], target_masks, mask_logits)) == 0.0
    class_loss = value(losses.mrcnn_class_loss(class_ids, rng.normal(size=(2, 4, 3)).astype(np.float32), valid))
    rpn_class = value(losses.rpn_class_loss(match, rpn_logits))
    assert np.isfinite(class_loss) and class_loss > 0 and np.isfinite(rpn_class) and rpn_class > 0
    # Nothing sampled at all: every loss is 0, never NaN.
    nothing = np.zeros((2, 6), np.int32)
    assert value(losses.rpn_class_loss(nothing, rpn_logits)) == 0.0
    assert value(losses.mrcnn_class_loss(class_ids, deltas[..., 0], np.zeros((2, 4), np.float32))) == 0.0


def test_zero_losses_have_finite_gradients():
    """An image without objects must not poison training with NaN gradients (TensorFlow backend only)."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("gradient check written with tf.GradientTape")
    tf = pytest.importorskip("tensorflow")
    deltas = tf.ones((1, 2, 3, 4))
    mask_logits = tf.ones((1, 2, 4, 4, 3))
    class_ids = np.zeros((1, 2), np.int32)
    with tf.GradientTape() as tape:
        tape.watch([deltas, mask_logits])
        total = losses.mrcnn_bbox_loss(class_ids, np.zeros((1, 2, 4), np.float32), deltas) + losses.mrcnn_mask_loss(
            class_ids, np.zeros((1, 2, 4, 4), np.float32), mask_logits
        )
    for grad in tape.gradient(total, [deltas, mask_logits]):
        grad = np.asarray(grad)
        assert np.all(np.isfinite(grad)) and np.all(grad == 0)
