"""matterport weight files: layer-name mapping, nested rpn_model, folded head BN, BGR conv1, errors.

The file is written here the way Keras 2 saved matterport's models: root attribute layer_names,
one group per layer with attribute weight_names ("res2a_branch2a/kernel:0", ...), and the RPN as
one nested-model group "rpn_model".
"""

import h5py
import keras
import numpy as np
import pytest
from tiny import TinyInferenceConfig

from mrcnn import model as modellib
from mrcnn.weights import h5 as weights_io
from mrcnn.weights import matterport

HEADS = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def matterport_resnet_layers(stage4_blocks):
    """matterport's names for a ResNet with `stage4_blocks` blocks in stage 4 → keras.applications' names.

    Written out independently of mrcnn.weights.matterport: block letters a, b, c, ... and branches 2a/2b/2c
    (main path) and 1 (projection shortcut, first block of each stage only).
    """
    names = {"conv1": "conv1_conv", "bn_conv1": "conv1_bn"}
    for stage, blocks in ((2, 3), (3, 4), (4, stage4_blocks), (5, 3)):
        for index in range(blocks):
            letter = "abcdefghijklmnopqrstuvw"[index]
            branches = [("2a", 1), ("2b", 2), ("2c", 3)] + ([("1", 0)] if index == 0 else [])
            for branch, number in branches:
                names[f"res{stage}{letter}_branch{branch}"] = f"conv{stage}_block{index + 1}_{number}_conv"
                names[f"bn{stage}{letter}_branch{branch}"] = f"conv{stage}_block{index + 1}_{number}_bn"
    return names


def write_matterport_file(path, groups):
    """groups: {layer name: [(weight name, array)]} → legacy-layout .h5 as Keras 2 wrote it."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([name.encode() for name in groups])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.6"
        for name, weights in groups.items():
            group = f.create_group(name)
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for weight_name, array in weights:
                group.create_dataset(weight_name, data=array)


def _weights(name, layer, rng, suffixes=("kernel", "bias")):
    if isinstance(layer, keras.layers.BatchNormalization):
        suffixes = BN_WEIGHTS
    arrays = [rng.standard_normal(w.shape).astype(np.float32) for w in layer.weights]
    if isinstance(layer, keras.layers.BatchNormalization):
        arrays[3] = np.abs(arrays[3]) + 0.5  # a variance
    return [(f"{name}/{suffix}:0", array) for suffix, array in zip(suffixes, arrays)]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    config = TinyInferenceConfig(BACKBONE="resnet50", BACKBONE_OPTIONS={}, IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64)
    return modellib.MaskRCNN("inference", config, tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def coco_like(model, tmp_path_factory):
    """A matterport-layout file for this model: ResNet-50 plus two ResNet-101-only blocks, the RPN
    as rpn_model, and heads with matterport's BatchNorm layers."""
    rng = np.random.default_rng(0)
    layers = weights_io.weight_layers(model.keras_model)
    groups = {}
    for mp_name, ours in matterport_resnet_layers(6).items():
        groups[mp_name] = _weights(mp_name, layers[ours], rng)
    for extra in ("res4g_branch2a", "bn4g_branch2a"):  # stage-4 block 7 exists only in ResNet-101
        like = groups[extra.replace("4g", "4b")]
        groups[extra] = [(w.replace("4b", "4g"), rng.standard_normal(a.shape).astype(np.float32)) for w, a in like]
    groups["rpn_model"] = sum(
        (_weights(n, layers[n], rng) for n in ("rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred")), []
    )
    for name in (
        ("fpn_c5p5", "fpn_p2", "mrcnn_class_conv1", "mrcnn_class_conv2", "mrcnn_mask_conv1")
        + tuple(HEADS[:2])
        + ("mrcnn_mask",)
    ):
        groups[name] = _weights(name, layers[name], rng)
    channels = {
        "mrcnn_class_bn1": TinyInferenceConfig.FPN_CLASSIF_FC_LAYERS_SIZE,
        "mrcnn_class_bn2": TinyInferenceConfig.FPN_CLASSIF_FC_LAYERS_SIZE,
        "mrcnn_mask_bn1": TinyInferenceConfig.MASK_HEAD_CHANNELS,
        "mrcnn_mask_bn2": TinyInferenceConfig.MASK_HEAD_CHANNELS,
    }
    for name, size in channels.items():
        arrays = [rng.standard_normal(size).astype(np.float32) for _ in BN_WEIGHTS]
        arrays[3] = np.abs(arrays[3]) + 0.5
        groups[name] = [(f"{name}/{w}:0", a) for w, a in zip(BN_WEIGHTS, arrays)]
    path = tmp_path_factory.mktemp("matterport") / "mask_rcnn_coco.h5"
    write_matterport_file(path, groups)
    return path, groups


def _stored(groups, name):
    return [array for _, array in groups[name]]


def test_the_name_map_covers_keras_resnet50_and_101():
    names = matterport.resnet_name_map()
    for application, stage4 in ((keras.applications.ResNet50, 6), (keras.applications.ResNet101, 23)):
        body = application(include_top=False, weights=None, input_shape=(64, 64, 3))
        keras_names = {layer.name for layer in body.layers if layer.weights}
        expected = matterport_resnet_layers(stage4)
        assert {names[n] for n in expected} == keras_names
        assert all(names[n] == ours for n, ours in expected.items())
    assert names["res4w_branch2c"] == "conv4_block23_3_conv" and names["bn5a_branch1"] == "conv5_block1_0_bn"


def test_detects_matterport_files(coco_like, tmp_path):
    path, _ = coco_like
    assert matterport.is_matterport_file(path)
    ours = tmp_path / "ours.h5"
    ours.write_bytes(b"not hdf5")
    assert not matterport.is_matterport_file(ours)
    assert not matterport.is_matterport_file(tmp_path / "missing.h5")


def test_tensors_arrive_in_the_right_layers(model, coco_like):
    path, groups = coco_like
    model.load_weights(path, by_name=True)
    layers = weights_io.weight_layers(model.keras_model)
    report = model.load_report
    # ResNet: renamed, same tensors; projection shortcut (branch1) → _0_.
    for mp_name, ours in [
        ("res2a_branch1", "conv2_block1_0_conv"),
        ("res4f_branch2c", "conv4_block6_3_conv"),
        ("res3d_branch2b", "conv3_block4_2_conv"),
    ]:
        for got, want in zip(layers[ours].get_weights(), _stored(groups, mp_name)):
            np.testing.assert_array_equal(got, want)
    # BatchNorm: gamma/beta/mean as stored; variance shifted so var + epsilon equals matterport's.
    gamma, beta, mean, variance = layers["conv5_block3_2_bn"].get_weights()
    stored = _stored(groups, "bn5c_branch2b")
    np.testing.assert_array_equal(gamma, stored[0])
    np.testing.assert_array_equal(mean, stored[2])
    epsilon = layers["conv5_block3_2_bn"].epsilon
    np.testing.assert_allclose(variance + epsilon, stored[3] + 1e-3, rtol=1e-6)
    # conv1: matterport saw RGB, our ResNet sees BGR → input channels reversed.
    np.testing.assert_array_equal(layers["conv1_conv"].get_weights()[0], _stored(groups, "conv1")[0][:, :, ::-1, :])
    # The nested rpn_model group is split by the layer names in its weight names.
    rpn = _stored(groups, "rpn_model")
    np.testing.assert_array_equal(layers["rpn_conv_shared"].get_weights()[0], rpn[0])
    np.testing.assert_array_equal(layers["rpn_bbox_pred"].get_weights()[1], rpn[5])
    np.testing.assert_array_equal(
        layers["mrcnn_class_logits"].get_weights()[0], _stored(groups, "mrcnn_class_logits")[0]
    )
    # Head BN folded into the conv before it.
    kernel, bias = _stored(groups, "mrcnn_mask_conv1")
    g, b, m, v = _stored(groups, "mrcnn_mask_bn1")
    scale = g / np.sqrt(v + 1e-3)
    np.testing.assert_allclose(layers["mrcnn_mask_conv1"].get_weights()[0], kernel * scale, rtol=1e-5)
    np.testing.assert_allclose(
        layers["mrcnn_mask_conv1"].get_weights()[1], (bias - m) * scale + b, rtol=1e-5, atol=1e-6
    )
    assert set(report["folded"]) == {"mrcnn_class_bn1", "mrcnn_class_bn2", "mrcnn_mask_bn1"}
    # Layers this model lacks are reported, not an error.
    assert {"conv4_block7_1_conv", "conv4_block7_1_bn", "mrcnn_mask_bn2"} <= set(report["unused"])
    assert "conv2_block1_0_conv" in report["loaded"] and "rpn_class_raw" in report["loaded"]


def test_folding_equals_conv_then_frozen_batch_norm():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 5, 3)).astype(np.float32)
    conv = keras.layers.Conv2D(4, 3)
    bn = keras.layers.BatchNormalization(epsilon=1e-3)
    expected = bn(conv(x), training=False)
    params = [rng.standard_normal(4).astype(np.float32) for _ in range(4)]
    params[3] = np.abs(params[3]) + 0.1
    bn.set_weights(params)
    expected = np.asarray(bn(conv(x), training=False))
    folded = keras.layers.Conv2D(4, 3)
    folded.build(x.shape)
    folded.set_weights(list(matterport.fold_batch_norm(*conv.get_weights(), *params)))
    np.testing.assert_allclose(np.asarray(folded(x)), expected, rtol=1e-4, atol=1e-5)


def test_exclude_keeps_the_heads(model, coco_like):
    path, groups = coco_like
    layers = weights_io.weight_layers(model.keras_model)
    fresh = keras.initializers.Zeros()(layers["mrcnn_class_logits"].get_weights()[0].shape)
    layers["mrcnn_class_logits"].set_weights([np.asarray(fresh), layers["mrcnn_class_logits"].get_weights()[1]])
    model.load_weights(path, by_name=True, exclude=HEADS)
    assert not layers["mrcnn_class_logits"].get_weights()[0].any()
    assert "mrcnn_class_logits" not in model.load_report["loaded"]


def test_a_shape_mismatch_lists_the_layers(model, coco_like, tmp_path):
    _, groups = coco_like
    broken = dict(groups)
    broken["res3a_branch2b"] = [(w, a[..., :7]) for w, a in groups["res3a_branch2b"]]
    broken["mrcnn_class_logits"] = [(w, a[..., :2]) for w, a in groups["mrcnn_class_logits"]]
    path = tmp_path / "broken.h5"
    write_matterport_file(path, broken)
    with pytest.raises(weights_io.WeightsFileError) as error:
        model.load_weights(path, by_name=True)
    message = str(error.value)
    assert "conv3_block1_2_conv" in message and "mrcnn_class_logits" in message and str(path) in message
