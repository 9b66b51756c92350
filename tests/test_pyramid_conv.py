"""PYRAMID_CONV: separable 3x3 convolutions on the pyramid (fpn_p2..p5, rpn_conv_shared), stored in weights files."""

import json

import keras
import numpy as np
import pytest
from tiny import TinyConfig, TinyInferenceConfig, shapes

from mrcnn.config import Config, ConfigError
from mrcnn.model import MaskRCNN
from mrcnn.modeling.macs import mask_rcnn_macs
from mrcnn.modeling.rpn import build_rpn_model

PYRAMID_LAYERS = ("fpn_p2", "fpn_p3", "fpn_p4", "fpn_p5")


def test_unknown_kind_is_refused():
    with pytest.raises(ConfigError, match="PYRAMID_CONV must be 'conv' or 'separable', got 'depthwise'"):
        TinyConfig(PYRAMID_CONV="depthwise")


def test_separable_pyramid_builds_separable_layers_with_fewer_weights_and_macs(tmp_path):
    conv = MaskRCNN("inference", TinyInferenceConfig(), str(tmp_path))
    separable = MaskRCNN("inference", TinyInferenceConfig(PYRAMID_CONV="separable"), str(tmp_path))
    for name in PYRAMID_LAYERS:
        assert isinstance(conv.keras_model.get_layer(name), keras.layers.Conv2D)
        assert isinstance(separable.keras_model.get_layer(name), keras.layers.SeparableConv2D)
        assert separable.keras_model.get_layer(name).count_params() < conv.keras_model.get_layer(name).count_params()
    shared = separable.keras_model.get_layer("rpn_model").get_layer("rpn_conv_shared")
    assert isinstance(shared, keras.layers.SeparableConv2D)
    assert mask_rcnn_macs(separable)["fpn_rpn"] < 0.5 * mask_rcnn_macs(conv)["fpn_rpn"]


def test_separable_rpn_keeps_stride_relu_and_output_shapes():
    model = build_rpn_model(3, 8, 16, anchor_stride=2, conv="separable")
    shared = model.get_layer("rpn_conv_shared")
    assert shared.strides == (2, 2) and shared.activation is keras.activations.relu
    logits, probs, deltas = model(np.zeros((1, 6, 6, 8), "float32"))
    assert logits.shape == (1, 3 * 3 * 3, 2) and deltas.shape == (1, 27, 4)


def test_separable_model_trains_and_reloads_from_its_file(tmp_path):
    config = TinyConfig(PYRAMID_CONV="separable", STEPS_PER_EPOCH=1, VALIDATION_STEPS=1)
    model = MaskRCNN("training", config, str(tmp_path))
    before = model.keras_model.get_layer("fpn_p2").get_weights()[0].copy()
    model.train(shapes(2), shapes(2, seed=1), learning_rate=0.01, epochs=1, layers="all")
    assert not np.allclose(before, model.keras_model.get_layer("fpn_p2").get_weights()[0])
    path = tmp_path / "separable.h5"
    model.save_weights(str(path))
    restored = MaskRCNN.from_weights(str(path), str(tmp_path))
    assert restored.config.PYRAMID_CONV == "separable"
    assert isinstance(restored.keras_model.get_layer("fpn_p2"), keras.layers.SeparableConv2D)


def test_a_file_from_before_the_key_builds_standard_convolutions():
    stored = json.loads(TinyInferenceConfig(PYRAMID_CONV="separable").to_json())
    del stored["PYRAMID_CONV"]
    assert Config.from_dict(stored).PYRAMID_CONV == "conv"
