"""ResNet-50 / ResNet-101 (keras.applications, v1, caffe preprocessing) as C2..C5 backbones.

Stage k is every layer named `conv{k}_block*`; the stem (conv1_*, pool1_*) belongs to no stage.
In the Mask R-CNN graph C2..C5 carry matterport's names: res2c_out, res3d_out, res4f_out (ResNet-50) or
res4w_out (ResNet-101), res5c_out (its blocks are lettered a, b, c, ...).
"""

import keras

from .applications import from_application
from .normalize import caffe_normalization
from .registry import register_backbone

STRIDES = (4, 8, 16, 32)
STAGE_PATTERNS = {stage: rf"conv{stage}_block\d+_\w+" for stage in (2, 3, 4, 5)}


def _resnet(application, name, conv4_blocks, input_shape, weights, train_bn):
    taps = ["conv2_block3_out", "conv3_block4_out", f"conv4_block{conv4_blocks}_out", "conv5_block3_out"]
    return from_application(
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


@register_backbone("resnet50")
def resnet50(input_shape=(None, None, 3), weights=None, train_bn=False):
    """ResNet-50: C2..C5 with 256, 512, 1024, 2048 channels."""
    return _resnet(keras.applications.ResNet50, "resnet50", 6, input_shape, weights, train_bn)


@register_backbone("resnet101")
def resnet101(input_shape=(None, None, 3), weights=None, train_bn=False):
    """ResNet-101 (matterport's default): C2..C5 with 256, 512, 1024, 2048 channels."""
    return _resnet(keras.applications.ResNet101, "resnet101", 23, input_shape, weights, train_bn)
