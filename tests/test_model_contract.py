"""Whole-model contracts: backbone strides, anchor stride, .keras round trip, pinned losses, presets, bad pixels."""

import keras
import numpy as np
import pytest
from tiny import TinyInferenceConfig

from mrcnn.backbones import Backbone, build_backbone, registry
from mrcnn.config import ConfigError
from mrcnn.modeling import graph


@pytest.fixture
def stride8_backbone(monkeypatch):
    """A registered backbone whose outputs have strides (8, 16, 32, 64): MobileNet's C3..C5 plus a pooled C6."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_backbone("stride8")
    def stride8(input_shape=(None, None, 3), weights=None, train_bn=False, alpha=0.25):
        body = build_backbone("mobilenet_v1", input_shape, weights, train_bn, alpha=alpha)
        image = keras.Input(input_shape)
        c3, c4, c5 = body.model(image)[1:]
        c6 = keras.layers.MaxPooling2D(2, padding="same", name="stride8_c6")(c5)
        model = keras.Model(image, [c3, c4, c5, c6], name="stride8")
        channels = body.channels[1:] + body.channels[-1:]
        return Backbone(model, (8, 16, 32, 64), channels, body.stage_patterns, "stride8")

    return "stride8"


def test_backbone_strides_disagreeing_with_config_raise(stride8_backbone):
    with pytest.raises(ConfigError, match=r"set BACKBONE_STRIDES = \[8, 16, 32, 64, 128\]"):
        graph.build_inference_graph(TinyInferenceConfig(BACKBONE=stride8_backbone))


def test_backbone_strides_place_the_anchors(stride8_backbone):
    config = TinyInferenceConfig(BACKBONE=stride8_backbone, BACKBONE_STRIDES=[8, 16, 32, 64, 128])
    model, _ = graph.build_inference_graph(config)
    probe = keras.Model(model.input, model.get_layer("anchors").output)
    anchors = keras.ops.convert_to_numpy(probe(np.zeros((1, 128, 128, 3), np.float32))) * 128
    per_cell = len(config.RPN_ANCHOR_RATIOS)
    sizes = [128 // s for s in (8, 16, 32, 64, 128)]  # 16, 8, 4, 2, 1 cells a side
    assert len(anchors) == per_cell * sum(n * n for n in sizes)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    start = 0
    for stride, n in zip((8, 16, 32, 64, 128), sizes):
        level = centres[start : start + per_cell * n * n]
        np.testing.assert_allclose(level[0], [stride / 2, stride / 2], atol=1e-4)  # first cell's centre
        np.testing.assert_allclose(level[-1], [(n - 0.5) * stride] * 2, atol=1e-4)  # last cell's centre
        start += per_cell * n * n


def test_rpn_anchor_stride_2_gives_4x_fewer_anchors_lined_up_with_the_rpn():
    outputs = {}
    for stride in (1, 2):
        model, _ = graph.build_inference_graph(TinyInferenceConfig(RPN_ANCHOR_STRIDE=stride))
        probe = keras.Model(model.input, [model.get_layer("anchors").output, model.get_layer("rpn_class").output])
        anchors, probs = probe(np.zeros((1, 128, 128, 3), np.float32))
        assert anchors.shape[0] == probs.shape[1]
        outputs[stride] = keras.ops.convert_to_numpy(anchors)
        detections, _ = model(np.full((1, 128, 128, 3), 100.0, np.float32))
        assert detections.shape == (1, TinyInferenceConfig.DETECTION_MAX_INSTANCES, 6)
    assert len(outputs[1]) == 4 * len(outputs[2])
    # P2 (32x32 cells, 3 anchors each): the stride-2 anchors are the dense ones of the even rows and columns.
    dense_p2 = outputs[1][: 32 * 32 * 3].reshape(32, 32, 3, 4)
    np.testing.assert_allclose(outputs[2][: 16 * 16 * 3], dense_p2[::2, ::2].reshape(-1, 4), atol=1e-6)
