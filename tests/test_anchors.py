"""Tests for mrcnn.modeling.anchors against hand-computed and loop-built float64 anchors."""

import keras
import numpy as np
import pytest

from mrcnn.modeling.anchors import PyramidAnchors, level_anchors

RATIOS = [0.25, 1.0, 4.0]  # sqrt gives 0.5, 1, 2: round anchor sizes


def reference_level(height, width, stride, scale, ratios):
    """Loop reference: order (row, column, ratio); ratio = width / height; pixels."""
    rows = []
    for i in range(height):
        for j in range(width):
            cy, cx = (i + 0.5) * stride, (j + 0.5) * stride
            for r in ratios:
                h, w = scale / np.sqrt(r), scale * np.sqrt(r)
                rows.append([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2])
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def test_level_anchors_hand_computed_2x3():
    got = keras.ops.convert_to_numpy(level_anchors(2, 3, 4, 8.0, RATIOS))
    assert got.shape == (2 * 3 * 3, 4)
    # Cell (0, 0): centre (2, 2). ratio 0.25 -> 16 high, 4 wide; 1 -> 8x8; 4 -> 4 high, 16 wide.
    np.testing.assert_allclose(got[0:3], [[-6, 0, 10, 4], [-2, -2, 6, 6], [0, -6, 4, 10]], atol=1e-5)
    # Cell (0, 1): centre (2, 6) -> the next three rows (row-major, ratio fastest).
    np.testing.assert_allclose(got[3:6], [[-6, 4, 10, 8], [-2, 2, 6, 10], [0, -2, 4, 14]], atol=1e-5)
    # Cell (1, 2), the last one: centre (6, 10).
    np.testing.assert_allclose(got[15:18], [[-2, 8, 14, 12], [2, 6, 10, 14], [4, 2, 8, 18]], atol=1e-5)
    np.testing.assert_allclose(got, reference_level(2, 3, 4, 8.0, RATIOS), atol=1e-5)


def test_level_anchors_ratio_is_width_over_height():
    got = keras.ops.convert_to_numpy(level_anchors(1, 1, 16, 32.0, [2.0]))
    height, width = got[0, 2] - got[0, 0], got[0, 3] - got[0, 1]
    np.testing.assert_allclose(width / height, 2.0, rtol=1e-5)
    np.testing.assert_allclose(height * width, 32.0**2, rtol=1e-5)  # the scale fixes the area


@pytest.mark.parametrize("image_hw", [(64, 64), (64, 96)])
def test_pyramid_anchors_count_order_and_normalisation(image_hw):
    h, w = image_hw
    strides, scales, ratios = [4, 8, 16], [8.0, 16.0, 32.0], [0.5, 1.0, 2.0]
    image = np.zeros((2, h, w, 3), np.float32)
    features = [np.zeros((2, h // s, w // s, 5), np.float32) for s in strides]
    layer = PyramidAnchors(scales, ratios, strides)
    got = keras.ops.convert_to_numpy(layer([image] + features))

    count = sum((h // s) * (w // s) * len(ratios) for s in strides)
    assert got.shape == (count, 4)
    expected = np.concatenate(
        [reference_level(h // s, w // s, s, scale, ratios) for s, scale in zip(strides, scales)]
    ) / np.array([h, w, h, w], np.float64)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    # First anchor of P2: centre (2, 2) px, ratio 0.5 -> 8/sqrt(.5) high; normalised by H and W separately.
    half_h, half_w = 4 / np.sqrt(0.5), 4 * np.sqrt(0.5)
    np.testing.assert_allclose(
        got[0], [(2 - half_h) / h, (2 - half_w) / w, (2 + half_h) / h, (2 + half_w) / w], atol=1e-6
    )


def test_pyramid_anchors_get_config_round_trip():
    layer = PyramidAnchors([8, 16], [0.5, 1, 2], [4, 8], name="anchors")
    clone = PyramidAnchors.from_config(layer.get_config())
    assert (clone.scales, clone.ratios, clone.strides) == ([8.0, 16.0], [0.5, 1.0, 2.0], [4, 8])


def test_anchor_stride_keeps_every_kth_cell():
    dense = keras.ops.convert_to_numpy(level_anchors(5, 4, 8, 16.0, RATIOS)).reshape(5, 4, 3, 4)
    got = keras.ops.convert_to_numpy(level_anchors(5, 4, 8, 16.0, RATIOS, anchor_stride=2))
    assert got.shape == (3 * 2 * 3, 4)  # ceil(5 / 2) rows, ceil(4 / 2) columns
    np.testing.assert_allclose(got, dense[::2, ::2].reshape(-1, 4), atol=1e-5)
    np.testing.assert_allclose(got[3], [4 - 16, 20 - 4, 4 + 16, 20 + 4], atol=1e-5)  # cell (0, 2): centre (4, 20)
