"""mold/unmold: resizing into the network frame and mapping detections back, at odd sizes."""

import numpy as np
import pytest

from mrcnn.config import Config
from mrcnn.inference import mold


class SquareConfig(Config):
    NAME = "mold"
    NUM_CLASSES = 2
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128


@pytest.mark.parametrize("shape", [(201, 333), (333, 201), (99, 100), (128, 128), (7, 300)])
def test_boxes_round_trip_through_the_molded_frame(shape):
    config = SquareConfig()
    image = np.zeros(shape + (3,), np.uint8)
    molded, windows, scales, shapes = mold.mold_inputs([image], config)
    assert molded.shape == (1, 128, 128, 3) and molded.dtype == np.float32
    window, scale = windows[0], scales[0]
    # A box in original pixels, moved into the molded frame and normalised, as the network emits it.
    box = np.array([0.25 * shape[0], 0.1 * shape[1], 0.75 * shape[0], 0.9 * shape[1]])
    molded_box = box * scale + np.array([window[0], window[1], window[0], window[1]])
    detections = np.zeros((3, 6), np.float32)
    detections[0, :4] = molded_box / 128.0
    detections[0, 4:] = [1, 0.9]
    masks = np.ones((3, 28, 28), np.float32)
    result = mold.unmold_detections(detections, masks, shapes[0], molded.shape[1:], window, scale)
    assert result["rois"].shape == (1, 4)
    np.testing.assert_allclose(result["rois"][0], np.round(box), atol=1)
    assert result["masks"].shape == shape + (1,)
    y1, x1, y2, x2 = result["rois"][0]
    assert result["masks"][y1 + 1 : y2 - 1, x1 + 1 : x2 - 1, 0].all()
    assert result["masks"][:, :, 0].sum() <= (y2 - y1 + 2) * (x2 - x1 + 2)


def test_paste_masks_matches_a_loop_reference():
    rng = np.random.default_rng(0)
    soft = rng.random((2, 6, 6)).astype(np.float32)
    boxes = np.array([[2.0, 3.0, 14.0, 9.0], [0.0, 0.0, 20.0, 20.0]], np.float32)
    pasted = mold.paste_masks(soft, boxes, (20, 20))
    for i, (mask, (y1, x1, y2, x2)) in enumerate(zip(soft, boxes)):
        expected = np.zeros((20, 20), bool)
        for y in range(int(y1), int(np.ceil(y2))):
            for x in range(int(x1), int(np.ceil(x2))):
                my = np.clip((y + 0.5 - y1) / (y2 - y1) * 6 - 0.5, 0, 5)
                mx = np.clip((x + 0.5 - x1) / (x2 - x1) * 6 - 0.5, 0, 5)
                y0, x0 = int(my), int(mx)
                y1_, x1_ = min(y0 + 1, 5), min(x0 + 1, 5)
                wy, wx = my - y0, mx - x0
                value = (1 - wy) * ((1 - wx) * mask[y0, x0] + wx * mask[y0, x1_]) + wy * (
                    (1 - wx) * mask[y1_, x0] + wx * mask[y1_, x1_]
                )
                expected[y, x] = value >= 0.5
        np.testing.assert_array_equal(pasted[:, :, i], expected)


def test_padding_and_vanished_detections_are_dropped():
    detections = np.zeros((4, 6), np.float32)
    detections[0] = [0.1, 0.1, 0.5, 0.5, 1, 0.8]
    detections[1] = [0.0, 0.0, 0.001, 0.001, 1, 0.7]  # rounds to an empty box in a 50 px image
    result = mold.unmold_detections(
        detections, np.ones((2, 28, 28)), (50, 50, 3), (128, 128, 3), np.array([0, 0, 128, 128]), 128 / 50
    )
    assert len(result["class_ids"]) == 1 and result["masks"].shape == (50, 50, 1)
    empty = mold.unmold_detections(
        np.zeros((4, 6), np.float32), np.zeros((1, 28, 28)), (50, 60, 3), (128, 128, 3), np.array([0, 0, 128, 128]), 1.0
    )
    assert empty["rois"].shape == (0, 4) and empty["masks"].shape == (50, 60, 0)


def test_check_image_converts_or_explains():
    assert mold.check_image(np.zeros((5, 6), np.uint8)).shape == (5, 6, 3)
    assert mold.check_image(np.zeros((5, 6, 4), np.uint8)).shape == (5, 6, 3)
    assert mold.check_image(np.full((5, 6, 3), 254.6)).dtype == np.uint8
    with pytest.raises(mold.ImageError, match="too small"):
        mold.check_image(np.zeros((1, 6, 3), np.uint8))
    with pytest.raises(mold.ImageError, match="finite"):
        mold.check_image(np.full((5, 6, 3), np.nan))


def test_crop_mode_is_refused_at_inference():
    with pytest.raises(ValueError, match="training only"):
        mold.mold_inputs([np.zeros((64, 64, 3), np.uint8)], SquareConfig(IMAGE_RESIZE_MODE="crop", IMAGE_MIN_DIM=64))


def test_image_meta_round_trip():
    meta = mold.compose_image_meta(7, (10, 20, 3), (64, 64, 3), (1, 2, 3, 4), 1.5, [1, 0, 1])
    parsed = mold.parse_image_meta(meta[None])
    assert parsed["image_id"][0] == 7 and parsed["window"][0].tolist() == [1, 2, 3, 4]
    assert parsed["active_class_ids"][0].tolist() == [1, 0, 1]
