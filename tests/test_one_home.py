"""One implementation per operation (issue 16): paste, decode, result check, RLE, box deltas."""

import numpy as np

from mrcnn import utils
from mrcnn.inference import mold


def test_unmold_mask_matches_detect_paste():
    rng = np.random.default_rng(0)
    shape = (64, 64, 3)
    pixels = np.array([[3, 5, 40, 30], [10, 20, 60, 63], [0, 0, 64, 64]], np.float32)
    detections = np.zeros((4, 6), np.float32)
    detections[:3, :4] = pixels / 64
    detections[:3, 4], detections[:3, 5] = 1, 0.9
    soft = rng.random((3, 28, 28)).astype(np.float32)
    result = mold.unmold_detections(detections, soft, shape, shape, (0, 0, 64, 64), 1.0)
    assert result["masks"].shape == (64, 64, 3) and result["masks"].any()
    for i in range(3):
        np.testing.assert_array_equal(utils.unmold_mask(soft[i], result["rois"][i], shape), result["masks"][:, :, i])
    np.testing.assert_array_equal(utils.expand_mask(result["rois"], np.moveaxis(soft, 0, -1), shape), result["masks"])
