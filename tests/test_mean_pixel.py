"""Config.MEAN_PIXEL: the default keeps each backbone's own normalisation; another value replaces its mean."""

import keras
import numpy as np
import pytest
from tiny import TinyConfig

from mrcnn.backbones import PixelNormalization
from mrcnn.config import ConfigError
from mrcnn.modeling.graph import build_inference_graph

NUCLEUS_MEAN = (43.53, 39.56, 48.22)  # nucleus.py's MEAN_PIXEL


def _normalization(config):
    model, backbone = build_inference_graph(config)
    (layer,) = [layer for layer in backbone.model.layers if isinstance(layer, PixelNormalization)]
    return backbone.model, layer


def _stem_input(backbone_model, layer, image):
    probe = keras.Model(backbone_model.inputs, layer.output)
    return keras.ops.convert_to_numpy(probe(image[None].astype(np.float32)))[0]


@pytest.mark.parametrize(
    "config, expected",
    [
        (TinyConfig(), lambda x: x / 127.5 - 1),  # MobileNet's own [-1, 1]
        (TinyConfig(MEAN_PIXEL=np.array(NUCLEUS_MEAN)), lambda x: (x - NUCLEUS_MEAN) / 127.5),
        (
            TinyConfig(MEAN_PIXEL=np.array(NUCLEUS_MEAN), BACKBONE="resnet50", BACKBONE_OPTIONS={}),
            lambda x: (x - NUCLEUS_MEAN)[..., ::-1],  # ResNet's caffe scale (1) and BGR order, this mean
        ),
        (TinyConfig(MEAN_PIXEL=np.array([50.0]), IMAGE_CHANNEL_COUNT=1), lambda x: (x - 50.0) / 127.5),
    ],
)
def test_mean_pixel_reaches_the_input_normalisation(config, expected):
    channels = config.IMAGE_CHANNEL_COUNT
    size = config.IMAGE_SHAPE[0]
    image = np.random.default_rng(0).integers(0, 256, (size, size, channels)).astype(np.float32)
    backbone_model, layer = _normalization(config)
    np.testing.assert_allclose(_stem_input(backbone_model, layer, image), expected(image), rtol=1e-5, atol=1e-4)


def test_a_backbone_without_one_normalisation_layer_refuses_a_mean_pixel():
    from mrcnn.backbones import Backbone

    def bare(input_shape, weights=None, train_bn=False):
        image = keras.Input(input_shape)
        taps, x = [], image
        for i in range(5):
            x = keras.layers.Conv2D(8, 3, strides=2, padding="same", name=f"bare_conv{i}")(x)
            taps.append(x)
        model = keras.Model(image, taps[1:], name="bare")
        return Backbone(model, (4, 8, 16, 32), (8, 8, 8, 8), {k: rf"bare_conv{k - 1}" for k in (2, 3, 4, 5)}, "bare")

    with pytest.raises(ConfigError, match=r"MEAN_PIXEL=.*0 PixelNormalization layers"):
        build_inference_graph(TinyConfig(BACKBONE=bare, BACKBONE_OPTIONS={}, MEAN_PIXEL=np.array(NUCLEUS_MEAN)))
