"""Tests for mrcnn.modeling.roi_align against a loop-based float64 ROIAlign reference."""

import math

import keras
import numpy as np
import pytest

from mrcnn.modeling.roi_align import PyramidROIAlign, assign_levels, bilinear_crop


def np_(x):
    return keras.ops.convert_to_numpy(x)


def bilinear_at(image, y, x):
    """One bilinear sample of image [H, W, C] at pixel-centre coordinates (y, x), clamped at the border.

    Zero when the sample is more than one pixel outside (y < -1 or y > H, likewise x).
    """
    height, width = image.shape[:2]
    if y < -1.0 or y > height or x < -1.0 or x > width:
        return np.zeros(image.shape[2])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(math.floor(y)), int(math.floor(x))
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * image[y0, x0]
        + (1 - ly) * lx * image[y0, x1]
        + ly * (1 - lx) * image[y1, x0]
        + ly * lx * image[y1, x1]
    )


def crop_reference(image, box, out_h, out_w):
    """Sample the centres of an out_h x out_w grid of bins over box (y1, x1, y2, x2) in image pixels."""
    image = np.asarray(image, np.float64)
    y1, x1, y2, x2 = (float(v) for v in box)
    result = np.zeros((out_h, out_w, image.shape[2]))
    for i in range(out_h):
        y = y1 + (i + 0.5) * (y2 - y1) / out_h - 0.5
        for j in range(out_w):
            x = x1 + (j + 0.5) * (x2 - x1) / out_w - 0.5
            result[i, j] = bilinear_at(image, y, x)
    return result


def level_reference(box, image_hw, num_levels):
    """floor(4 + log2(sqrt(h * w) / 224)) in pixels, clipped to [2, 2 + num_levels - 1]; returns index."""
    h = (box[2] - box[0]) * image_hw[0]
    w = (box[3] - box[1]) * image_hw[1]
    level = math.floor(4 + math.log2(math.sqrt(max(h * w, 1e-6)) / 224.0))
    return min(max(level, 2), 2 + num_levels - 1) - 2


def test_bilinear_crop_matches_reference_on_two_regions():
    rng = np.random.default_rng(0)
    region_a = rng.normal(size=(5, 7, 2)).astype(np.float32)
    region_b = rng.normal(size=(4, 3, 2)).astype(np.float32)
    table = np.concatenate([region_a.reshape(-1, 2), region_b.reshape(-1, 2)])
    regions = [(region_a, 0), (region_b, 35)]
    boxes = np.array(
        [
            [[0.0, 0.0, 5.0, 7.0], [1.3, 2.2, 3.9, 6.1]],  # whole region; interior
            [[-3.0, -2.0, 2.0, 4.0], [0.5, 0.5, 6.5, 4.5]],  # partly outside above/left; past bottom/right
        ],
        np.float32,
    )
    which = [[0, 0], [0, 1]]
    base = np.array([[regions[k][1] for k in row] for row in which], np.int32)
    height = np.array([[regions[k][0].shape[0] for k in row] for row in which], np.int32)
    width = np.array([[regions[k][0].shape[1] for k in row] for row in which], np.int32)
    got = np_(bilinear_crop(table, base, height, width, boxes, (3, 4)))
    assert got.shape == (2, 2, 3, 4, 2)
    for r in range(2):
        for c in range(2):
            expected = crop_reference(regions[which[r][c]][0], boxes[r, c], 3, 4)
            np.testing.assert_allclose(got[r, c], expected, atol=1e-5, err_msg=f"box {r},{c}")
    # The box reaching 3 px above the region samples nothing there: its first row is zero.
    assert np.all(got[1, 0, 0] == 0.0)


def test_bilinear_crop_of_whole_region_at_same_size_is_identity():
    region = np.arange(12, dtype=np.float32).reshape(3, 4, 1)
    got = np_(
        bilinear_crop(
            region.reshape(-1, 1),
            np.array([0], np.int32),
            np.array([3], np.int32),
            np.array([4], np.int32),
            np.array([[0.0, 0.0, 3.0, 4.0]], np.float32),
            (3, 4),
        )
    )
    np.testing.assert_allclose(got[0], region, atol=1e-6)


def test_assign_levels():
    image_size = np.array([256.0, 512.0], np.float32)
    # sqrt(h*w) in pixels: 30 -> level 1 (clipped to 2); 56 -> 2; 111.9 -> 2; 112 -> 3; 224 -> 4; 1000 -> 5
    sides = [30.0, 56.0, 111.9, 112.0, 224.0, 1000.0]
    boxes = np.array([[0.0, 0.0, s / 256.0, s / 512.0] for s in sides], np.float32)
    got = np_(assign_levels(boxes, image_size, num_levels=4))
    np.testing.assert_array_equal(got, [0, 0, 0, 1, 2, 3])
    np.testing.assert_array_equal(np_(assign_levels(boxes, image_size, num_levels=2)), [0, 0, 0, 1, 1, 1])
    zero = np_(assign_levels(np.zeros((1, 4), np.float32), image_size, num_levels=4))
    np.testing.assert_array_equal(zero, [0])  # padding boxes land on the finest level, no NaN


@pytest.mark.parametrize("pool", [(3, 3), (2, 5)])
def test_pyramid_roi_align_matches_reference_on_two_levels(pool):
    rng = np.random.default_rng(1)
    image_hw = (256, 256)
    image = np.zeros((2, *image_hw, 3), np.float32)
    p2 = rng.normal(size=(2, 64, 64, 3)).astype(np.float32)
    p3 = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    px = np.array([256.0, 256.0, 256.0, 256.0])
    boxes = (
        np.array(
            [
                [[10, 20, 40, 50], [30, 40, 150, 160], [0, 0, 256, 256], [-20, 200, 20, 270]],
                [[100, 100, 125, 140], [50, 10, 170, 130], [5.5, 7.25, 33.5, 60.75], [0, 0, 0, 0]],
            ],
            np.float64,
        )
        / px
    )
    boxes = boxes.astype(np.float32)
    got = np_(PyramidROIAlign(pool)([boxes, image, p2, p3]))
    assert got.shape == (2, 4, *pool, 3)
    levels = [[level_reference(boxes[b, r], image_hw, 2) for r in range(4)] for b in range(2)]
    assert {lv for row in levels for lv in row} == {0, 1}  # both levels are exercised
    for b in range(2):
        for r in range(4):
            feature = (p2, p3)[levels[b][r]][b]
            scale = np.array(feature.shape[:2] * 2, np.float64)
            expected = crop_reference(feature, boxes[b, r].astype(np.float64) * scale, *pool)
            np.testing.assert_allclose(got[b, r], expected, atol=1e-4, err_msg=f"image {b} box {r}")


def test_pyramid_roi_align_reads_the_right_image_of_the_batch():
    image = np.zeros((2, 128, 128, 3), np.float32)
    p2 = np.stack([np.full((32, 32, 1), 1.0), np.full((32, 32, 1), 2.0)]).astype(np.float32)
    p3 = np.stack([np.full((16, 16, 1), 10.0), np.full((16, 16, 1), 20.0)]).astype(np.float32)
    small, large = [0.1, 0.1, 0.3, 0.3], [0.0, 0.0, 1.0, 1.0]  # 25.6 px -> P2; 128 px -> P3
    boxes = np.array([[small, large], [small, large]], np.float32)
    got = np_(PyramidROIAlign((2, 2))([boxes, image, p2, p3]))
    np.testing.assert_allclose(got[:, :, 0, 0, 0], [[1.0, 10.0], [2.0, 20.0]], atol=1e-6)
    assert PyramidROIAlign.from_config(PyramidROIAlign((7, 7)).get_config()).pool_size == (7, 7)
