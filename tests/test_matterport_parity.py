"""The conventions that make matterport's weights compute matterport's numbers (bench/parity.py measures them).

Each is pinned here without the port: RESNET_STEM (the stem max-pool's alignment and the input mean),
BOX_NORMALIZATION (matterport's (H - 1, W - 1) normalisation of anchors, ground truth and detections), ROI_ALIGN
(tf.image.crop_and_resize's sample grid and rounded level assignment), the stored defaults of files without the
keys, and the warning a matterport file gives a model with other conventions.
"""

import json
import warnings

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import model as modellib
from mrcnn.backbones import build_backbone
from mrcnn.config import Config
from mrcnn.data.generator import pad_example
from mrcnn.inference import mold
from mrcnn.modeling.anchors import PyramidAnchors
from mrcnn.modeling.roi_align import PyramidROIAlign, assign_levels
from mrcnn.weights import h5 as weights_io
from mrcnn.weights import matterport
from tests.tiny import TinyInferenceConfig


def _stem_outputs(backbone, image):
    model = backbone.model
    probe = keras.Model(model.inputs, [model.get_layer("conv1_relu").output, model.get_layer("pool1_pool").output])
    relu, pooled = probe.predict_on_batch(image)
    return relu[0], pooled[0]


def _max_pool(x, first):
    """3x3 stride-2 max-pool of x [n, n, C] whose output i covers rows/columns first + 2i .. first + 2i + 2."""
    n = x.shape[0]
    out = (n + 1) // 2
    result = np.full((out, out, x.shape[2]), -np.inf, np.float32)
    for i in range(out):
        for j in range(out):
            rows = [r for r in range(first + 2 * i, first + 2 * i + 3) if 0 <= r < n]
            cols = [c for c in range(first + 2 * j, first + 2 * j + 3) if 0 <= c < n]
            result[i, j] = x[np.ix_(rows, cols)].max(axis=(0, 1))
    return result


@pytest.fixture(scope="module")
def stems():
    keras.utils.set_random_seed(0)
    ours = build_backbone("resnet50", input_shape=(64, 64, 3))
    theirs = build_backbone("resnet50", input_shape=(64, 64, 3), stem="matterport")
    theirs.model.set_weights(ours.model.get_weights())
    return ours, theirs


def test_matterport_stem_pools_same_padding_the_keras_stem_pads_both_sides(stems):
    ours, theirs = stems
    image = np.random.default_rng(0).uniform(0, 255, (1, 64, 64, 3)).astype(np.float32)
    relu, pooled = _stem_outputs(theirs, image)
    assert relu.shape[:2] == (32, 32)  # even: "same" pads nothing before, one after
    np.testing.assert_allclose(pooled, _max_pool(relu, first=0), atol=1e-5)
    relu_k, pooled_k = _stem_outputs(ours, image)
    np.testing.assert_allclose(pooled_k, _max_pool(relu_k, first=-1), atol=1e-5)  # keras: one row before
    assert not np.allclose(pooled, _max_pool(relu, first=-1), atol=1e-3)  # so the two differ


def test_matterport_stem_on_an_odd_side_pads_both_sides():
    backbone = build_backbone("resnet50", input_shape=(66, 66, 3), stem="matterport")
    image = np.random.default_rng(1).uniform(0, 255, (1, 66, 66, 3)).astype(np.float32)
    relu, pooled = _stem_outputs(backbone, image)
    assert relu.shape[:2] == (33, 33)  # odd: TF's "same" pads one on each side
    np.testing.assert_allclose(pooled, _max_pool(relu, first=-1), atol=1e-5)


def test_matterport_stem_subtracts_matterports_mean_and_keeps_the_layers(stems):
    ours, theirs = stems
    assert theirs.model.get_layer("normalize_input").mean == pytest.approx((123.7, 116.8, 103.9))
    assert ours.model.get_layer("normalize_input").mean == pytest.approx((123.68, 116.779, 103.939))
    weighted = [layer.name for layer in ours.model.layers if layer.weights]
    assert weighted == [layer.name for layer in theirs.model.layers if layer.weights]
    assert not theirs.model.get_layer("conv1_bn").trainable  # frozen BN stays frozen
    with pytest.raises(ValueError, match="stem"):
        build_backbone("resnet50", input_shape=(64, 64, 3), stem="caffe")


def test_resnet_stem_needs_a_resnet(tmp_path):
    with pytest.raises(ValueError, match="RESNET_STEM"):
        modellib.MaskRCNN("inference", TinyInferenceConfig(RESNET_STEM="matterport"), tmp_path)
    with pytest.raises(ValueError, match="RESNET_STEM"):
        Config(RESNET_STEM="torch")


def test_matterport_anchor_normalisation():
    image = keras.ops.zeros((1, 64, 32, 3))
    features = [keras.ops.zeros((1, 1, 1, 1))]
    layer = PyramidAnchors([16], [1.0], [64], offset=0.0, normalization="matterport")
    anchors = keras.ops.convert_to_numpy(layer([image] + features))
    # one anchor at (0, 0), 16 px: (-8, -8, 8, 8) → ((y - (0, 0, 1, 1)) / (63, 31, 63, 31))
    np.testing.assert_allclose(anchors[0], [-8 / 63, -8 / 31, 7 / 63, 7 / 31], atol=1e-6)
    plain = PyramidAnchors([16], [1.0], [64], offset=0.0)([image] + features)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(plain)[0], [-8 / 64, -8 / 32, 8 / 64, 8 / 32], atol=1e-6)


def test_ground_truth_and_unmolding_follow_the_normalisation():
    image = np.zeros((65, 33, 3), np.uint8)
    boxes = np.array([[1, 2, 33, 17]], np.float32)
    masks = np.zeros((1, 4, 4), np.uint8)
    _, padded, _ = pad_example(image, np.array([1]), boxes, masks, 2, "matterport")
    np.testing.assert_allclose(padded[0], [1 / 64, 2 / 32, 32 / 64, 16 / 32], atol=1e-6)
    _, plain, _ = pad_example(image, np.array([1]), boxes, masks, 2)
    np.testing.assert_allclose(plain[0], [1 / 65, 2 / 33, 33 / 65, 17 / 33], atol=1e-6)
    detections = np.array([[*padded[0], 1, 0.9], [0, 0, 0, 0, 0, 0]], np.float32)
    result = mold.unmold_detections(
        detections, np.ones((1, 8, 8), np.float32), (65, 33, 3), (65, 33, 3), (0, 0, 65, 33), 1.0, "matterport"
    )
    np.testing.assert_array_equal(result["rois"], [[1, 2, 33, 17]])


def test_matterport_roi_align_is_crop_and_resize():
    rng = np.random.default_rng(0)
    features = [rng.standard_normal((1, s, s, 3)).astype(np.float32) for s in (16, 8, 4, 2)]
    image = np.zeros((1, 64, 64, 3), np.float32)
    # normalised boxes of ~5..40 px on a 64 px image: levels 2 after rounding (P2 is 16x16)
    boxes = np.array([[[0.1, 0.2, 0.3, 0.35], [0.0, 0.0, 0.62, 0.5], [0.4, 0.45, 0.47, 0.6]]], np.float32)
    layer = PyramidROIAlign((7, 7), "matterport")
    pooled = keras.ops.convert_to_numpy(layer([boxes, image] + features))
    expected = tf.image.crop_and_resize(features[0], boxes[0], np.zeros(3, np.int32), (7, 7)).numpy()
    np.testing.assert_allclose(pooled[0], expected, atol=1e-5)
    centred = keras.ops.convert_to_numpy(PyramidROIAlign((7, 7))([boxes, image] + features))
    assert not np.allclose(centred[0], expected, atol=1e-3)


def test_matterport_levels_round_where_mrcnn_floors():
    side = 224 * 2**0.6 / 1024  # log2(sqrt(area) / 224) = 0.6: floor gives P4, round gives P5
    boxes = keras.ops.convert_to_tensor([[0.0, 0.0, side, side]])
    size = keras.ops.convert_to_tensor([1024.0, 1024.0])
    assert int(assign_levels(boxes, size, 4)[0]) == 2  # index 2 = P4
    assert int(assign_levels(boxes, size, 4, rounding="round")[0]) == 3  # P5
    with pytest.raises(ValueError, match="sampling"):
        PyramidROIAlign((7, 7), "nearest")


def test_files_without_the_keys_keep_todays_conventions(tmp_path):
    config = TinyInferenceConfig(BOX_NORMALIZATION="matterport", ROI_ALIGN="matterport")
    model = modellib.MaskRCNN("inference", config, tmp_path)
    path = tmp_path / "saved.h5"
    model.save_weights(str(path))
    stored = weights_io.read_metadata(str(path))["config"]
    assert stored["BOX_NORMALIZATION"] == "matterport" and stored["RESNET_STEM"] == "keras"
    old = {k: v for k, v in stored.items() if k not in ("BOX_NORMALIZATION", "ROI_ALIGN", "RESNET_STEM")}
    restored = Config.from_dict(old)
    assert (restored.BOX_NORMALIZATION, restored.ROI_ALIGN, restored.RESNET_STEM) == ("mrcnn", "mrcnn", "keras")
    with h5py.File(path, "r+") as f:  # the same file as saved before the keys existed
        f.attrs["mrcnn_config"] = json.dumps(old)
    with pytest.warns(UserWarning, match="BOX_NORMALIZATION"):
        model.load_weights(str(path), by_name=True)


def _matterport_rpn_file(model, path):
    rpn = model.keras_model.get_layer("rpn_model")
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"rpn_model"])
        group = f.create_group("rpn_model")
        names = []
        for layer in rpn.layers:
            for weight in layer.weights:
                names.append(f"rpn_model/{layer.name}/{weight.name}:0")
                group.create_dataset(names[-1], data=np.asarray(weight))
        group.attrs["weight_names"] = np.array([n.encode() for n in names])


def test_a_matterport_file_names_each_convention_it_needs(tmp_path):
    plain = modellib.MaskRCNN("inference", TinyInferenceConfig(RPN_ANCHOR_OFFSET=0.0), tmp_path)
    path = tmp_path / "matterport_like.h5"
    _matterport_rpn_file(plain, path)
    with pytest.warns(UserWarning, match=r"matterport file.*BOX_NORMALIZATION = 'matterport'") as caught:
        plain.load_weights(str(path), by_name=True)
    text = str(caught[0].message)
    assert "RPN_ANCHOR_OFFSET" not in text and "RESNET_STEM" not in text  # right already / no conv1 loaded
    conventions = {k: v for k, v in matterport.CONVENTIONS.items() if k != "RESNET_STEM"}  # not a ResNet
    fitted = modellib.MaskRCNN("inference", TinyInferenceConfig(**conventions), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.load_weights(str(path), by_name=True)
