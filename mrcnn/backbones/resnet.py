"""ResNet-50 / ResNet-101 (keras.applications, v1, caffe preprocessing) as C2..C5 backbones.

Stage k is every layer named `conv{k}_block*`; the stem (conv1_*, pool1_*) belongs to no stage.
In the Mask R-CNN graph C2..C5 carry matterport's names: res2c_out, res3d_out, res4f_out (ResNet-50) or
res4w_out (ResNet-101), res5c_out (its blocks are lettered a, b, c, ...).

stem (Config.RESNET_STEM): "keras" is keras.applications' stem as it is; "matterport" is matterport's
resnet_graph stem, for its weight files: the 3x3 stride-2 max-pool after conv1 pads "same" (on an even
side nothing before and one row/column after, where keras.applications pads one on each side, which shifts
C2..C5 by one conv1 pixel), and the input has matterport's MEAN_PIXEL (123.7, 116.8, 103.9) removed rather
than keras' ImageNet mean (123.68, 116.779, 103.939). The layers and weights are the same in both.
"""

import keras

from .applications import from_application
from .normalize import IMAGENET_MEAN_RGB, PixelNormalization, caffe_normalization
from .registry import register_backbone

STRIDES = (4, 8, 16, 32)
STAGE_PATTERNS = {stage: rf"conv{stage}_block\d+_\w+" for stage in (2, 3, 4, 5)}
STEMS = ("keras", "matterport")
MATTERPORT_MEAN_RGB = (123.7, 116.8, 103.9)  # matterport's Config.MEAN_PIXEL, subtracted by its mold_image


def _matterport_layer(layer):
    """clone_model's clone_function for the matterport stem: the same layer, or its matterport variant."""
    if layer.name == "pool1_pad":  # the max-pool below pads for itself
        return keras.layers.Identity(name=layer.name)
    if layer.name == "pool1_pool":
        return keras.layers.MaxPooling2D(3, strides=2, padding="same", name=layer.name)
    if isinstance(layer, PixelNormalization) and layer.mean == tuple(float(m) for m in IMAGENET_MEAN_RGB):
        return PixelNormalization(MATTERPORT_MEAN_RGB, layer.std, layer.channel_order, name=layer.name)
    return layer.__class__.from_config(layer.get_config())


def matterport_stem(model):
    """`model` (a ResNet backbone's keras.Model) rebuilt with matterport's stem, weights and trainable flags kept.

    After conv1's ReLU every value is >= 0, so the zero padding of "same" max-pooling picks the same maxima as
    TF's (which ignores padded cells).
    """
    clone = keras.models.clone_model(model, clone_function=_matterport_layer)
    for layer in clone.layers:
        source = model.get_layer(layer.name)
        if source.weights:
            layer.set_weights(source.get_weights())
        layer.trainable = source.trainable
    return clone


def _resnet(application, name, conv4_blocks, input_shape, weights, train_bn, stem="keras"):
    if stem not in STEMS:
        raise ValueError(f"{name}: stem must be one of {STEMS}, got {stem!r}")
    taps = ["conv2_block3_out", "conv3_block4_out", f"conv4_block{conv4_blocks}_out", "conv5_block3_out"]
    backbone = from_application(
        application,
        name=name,
        taps=taps,
        strides=STRIDES,
        stage_patterns=STAGE_PATTERNS,
        normalization=caffe_normalization(),
        input_shape=input_shape,
        weights=weights,
        imagenet_file=f"{name}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        train_bn=train_bn,
        tap_names=("res2c_out", "res3d_out", f"res4{chr(ord('a') + conv4_blocks - 1)}_out", "res5c_out"),
    )
    if stem == "matterport":
        backbone.model = matterport_stem(backbone.model)
    return backbone


@register_backbone("resnet50")
def resnet50(input_shape=(None, None, 3), weights=None, train_bn=False, stem="keras"):
    """ResNet-50: C2..C5 with 256, 512, 1024, 2048 channels. stem: "keras" or "matterport" (see the module)."""
    return _resnet(keras.applications.ResNet50, "resnet50", 6, input_shape, weights, train_bn, stem)


@register_backbone("resnet101")
def resnet101(input_shape=(None, None, 3), weights=None, train_bn=False, stem="keras"):
    """ResNet-101 (matterport's default): C2..C5 with 256, 512, 1024, 2048 channels. stem: see the module."""
    return _resnet(keras.applications.ResNet101, "resnet101", 23, input_shape, weights, train_bn, stem)
