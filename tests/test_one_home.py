"""One implementation per operation (issue 16): paste, decode, result check, RLE, box deltas."""

import warnings

import numpy as np
import pytest
from keras import ops
from mrcnn_api import results
from mrcnn_api.imageio import decode_image
from mrcnn_api.predictor import _normalise_result
from PIL import Image
from pycocotools import mask as mask_utils

from mrcnn import utils, visualize
from mrcnn.data.rle import encode_rle
from mrcnn.evaluation.coco import detections_to_coco
from mrcnn.inference import mold
from mrcnn.inference.results import check_result
from mrcnn.modeling import boxes as model_boxes


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


def _three_decoders(path):
    """The same file through Dataset.load_image, utils.read_image and the API's decoder."""
    dataset = utils.Dataset()
    dataset.add_image("t", 0, str(path))
    dataset.prepare()
    return dataset.load_image(0), utils.read_image(path), decode_image(path.read_bytes())


def _rgba_image():
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., :3] = (200, 10, 30)  # colour stored under the alpha
    rgba[:, :2, 3] = 0  # fully transparent: white
    rgba[:, 2:4, 3] = 255  # opaque: the colour
    rgba[:, 4:, 3] = 128  # half: blended with white
    return rgba


def test_transparent_png_decodes_the_same_everywhere(tmp_path):
    path = tmp_path / "a.png"
    rgba = _rgba_image()
    Image.fromarray(rgba, "RGBA").save(path)
    loaded, read, posted = _three_decoders(path)
    np.testing.assert_array_equal(loaded, read)
    np.testing.assert_array_equal(loaded, posted)
    np.testing.assert_array_equal(loaded, mold.check_image(rgba))
    assert (loaded[:, :2] == 255).all() and (loaded[:, 2:4] == (200, 10, 30)).all()
    np.testing.assert_array_equal(loaded[0, 4], np.round((np.array([200, 10, 30]) * 128 + 255 * 127) / 255))


def _palette(path):
    image = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    image.save(path, transparency=2)  # palette entry 2 transparent
    return np.array([[[255, 0, 0], [0, 255, 0]], [[255, 255, 255], [0, 255, 0]]], np.uint8)


def _cmyk(path):
    Image.new("CMYK", (3, 2), (0, 255, 255, 0)).save(path)  # pure red ink
    return np.broadcast_to(np.array([255, 0, 0], np.uint8), (2, 3, 3))


def _sixteen_bit(path):
    Image.fromarray(np.array([[0, 65535], [32768, 257]], np.uint16)).save(path)
    gray = np.array([[0, 255], [128, 1]], np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _gray(path):
    gray = np.array([[0, 40, 255], [7, 8, 9]], np.uint8)
    Image.fromarray(gray, "L").save(path)
    return np.repeat(gray[:, :, None], 3, axis=2)


@pytest.mark.parametrize(
    "make, suffix",
    [(_palette, "png"), (_cmyk, "tiff"), (_sixteen_bit, "png"), (_gray, "png")],
    ids=["palette", "cmyk", "16bit", "gray"],
)
def test_modes_decode_the_same_everywhere(tmp_path, make, suffix):
    path = tmp_path / f"image.{suffix}"
    expected = make(path)
    for decoded in _three_decoders(path):
        assert decoded.dtype == np.uint8 and decoded.shape == expected.shape
        np.testing.assert_array_equal(decoded, expected)


def test_exif_orientation_is_an_option(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.new("RGB", (8, 4), (0, 0, 255)).save(path, exif=exif)
    loaded, read, posted = _three_decoders(path)
    assert loaded.shape == (4, 8, 3)  # Dataset.load_image keeps the file's raw grid
    assert read.shape == posted.shape == (8, 4, 3)


def test_float_image_in_unit_range_warns_with_the_fix():
    with pytest.warns(UserWarning, match=r"\[0, 1\].*255"):
        mold.check_image(np.full((4, 4, 3), 0.5, np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mold.check_image(np.full((4, 4, 3), 100.4, np.float32)).max() == 100


def _result(n_rois=2, n_scores=2, shape=(6, 8)):
    masks = np.zeros(shape + (2,), bool)
    masks[1:4, 2:5, 0] = masks[3:6, 0:8, 1] = True
    return {
        "rois": np.array([[1, 2, 4, 5], [3, 0, 6, 8]][:n_rois]),
        "class_ids": np.array([1, 2]),
        "scores": np.array([0.9, 0.4][:n_scores]),
        "masks": masks,
    }


def test_one_result_check_used_everywhere():
    good = check_result(_result(), (6, 8, 3))
    assert good["rois"].dtype == good["class_ids"].dtype == np.int32 and good["scores"].dtype == np.float32
    empty = check_result({"rois": np.zeros((0, 4)), "class_ids": [], "scores": [], "masks": np.zeros(0)}, (6, 8))
    assert empty["masks"].shape == (6, 8, 0)
    bad = _result(n_scores=1)
    message = r"instance counts disagree: \{'rois': 2, 'class_ids': 2, 'scores': 1, 'masks': 2\}"
    calls = [
        lambda: check_result(bad),
        lambda: _normalise_result(bad, (6, 8)),
        lambda: detections_to_coco(0, bad),
        lambda: visualize.draw_instances(
            np.zeros((6, 8, 3), np.uint8), bad["rois"], bad["masks"], bad["class_ids"], ["bg", "a", "b"], bad["scores"]
        ),
        lambda: utils.compute_ap(
            bad["rois"], bad["class_ids"], bad["masks"], bad["rois"], bad["class_ids"], bad["scores"], bad["masks"]
        ),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=message):
            call()
    with pytest.raises(ValueError, match=r"masks are \(6, 8\) but the image is \(7, 8\)"):
        _normalise_result(_result(), (7, 8))


def test_one_rle_encoder():
    assert results.encode_rle is encode_rle
    result = _result()
    rles = encode_rle(result["masks"])
    assert [d["segmentation"] for d in detections_to_coco(0, result)] == rles
    assert all(isinstance(r["counts"], str) and r["size"] == [6, 8] for r in rles)
    np.testing.assert_array_equal(mask_utils.decode(rles).astype(bool), result["masks"])


def test_numpy_box_deltas_are_the_modeling_ones():
    rng = np.random.default_rng(1)
    corner = rng.uniform(0, 50, (20, 2))
    boxes = np.hstack([corner, corner + rng.uniform(1, 40, (20, 2))]).astype(np.float32)
    gt = np.hstack([corner + 3, corner + 3 + rng.uniform(1, 60, (20, 2))]).astype(np.float32)
    gt[0, 2:] = gt[0, :2]  # a zero-size target: the floor of modeling.boxes, not -inf
    deltas = utils.box_refinement(boxes, gt)
    assert deltas.dtype == np.float32 and np.isfinite(deltas).all()
    unit = np.ones(4, np.float32)
    np.testing.assert_allclose(deltas, ops.convert_to_numpy(model_boxes.encode(boxes, gt, unit)), rtol=1e-6)
    np.testing.assert_allclose(utils.apply_box_deltas(boxes[1:], deltas[1:]), gt[1:], rtol=1e-5, atol=1e-4)
    # Public numpy behaviour kept: std_dev 1 and no clip of the log scale (decode clips at 4.135).
    wild = np.array([[0.1, -0.2, 6.0, 5.0]], np.float32)
    h, w = boxes[0, 2] - boxes[0, 0], boxes[0, 3] - boxes[0, 1]
    out = utils.apply_box_deltas(boxes[:1], wild)[0]
    np.testing.assert_allclose([out[2] - out[0], out[3] - out[1]], [h * np.exp(6.0), w * np.exp(5.0)], rtol=1e-5)
    clipped = ops.convert_to_numpy(model_boxes.decode(boxes[:1], wild, unit))[0]
    assert clipped[2] - clipped[0] < out[2] - out[0]
