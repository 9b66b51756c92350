"""MobileNetV3 Large / Small (keras.applications, inputs scaled to [-1, 1]) as a C2..C5 backbone.

Default: Large, not minimalistic. Large is the peer of MobileNet v1 α0.75 and MobileNetV2 α1.0 (about 220 M
MACs at 224² vs 300–330 M, for better ImageNet accuracy), so the study compares like with like; Small is
`size="small"`. Not minimalistic, because squeeze-excite, hard-swish and 5x5 depthwise kernels are what V3
adds to V2: the minimalistic variant drops them and is close to a V2 (`minimalistic=True` builds it).

keras.applications builds its own Rescaling to [-1, 1] unless include_preprocessing=False: here it is off and
the shared symmetric normalisation (x / 127.5 - 1) takes raw RGB [0, 255], as for v1/v2. The application
leaves its activations unnamed (re_lu_17, activation_4, numbered per session); they are renamed after the
layer they follow (conv_bn -> conv_act), so names, stage patterns and weight files are the same in every build.

Stages follow resolution, each tap the output of the last block at its stride (as for MobileNetV2).
Large: stem = conv + block 0, stage 2 = blocks 1-2 (C2 expanded_conv_2_add, 24 ch), 3 = 3-5
(expanded_conv_5_add, 40), 4 = 6-11 (expanded_conv_11_add, 112), 5 = 12-14 + conv_1 (conv_1_act, 960).
Small: stem = conv, stage 2 = block 0 (expanded_conv_project_bn, 16), 3 = 1-2 (expanded_conv_2_add, 24),
4 = 3-7 (expanded_conv_7_add, 48), 5 = 8-10 + conv_1 (conv_1_act, 576).
"""

import re

import keras

from .applications import from_application
from .mobilenet import STRIDES, _blocks
from .normalize import symmetric_normalization
from .registry import register_backbone

BLOCK = r"expanded_conv_{}_\w+"
BLOCK_0 = r"expanded_conv_[a-z]\w*"  # Block 0 has no number: expanded_conv_depthwise, ...
LAST = r"|conv_1|conv_1_bn|conv_1_act"
LAYOUTS = {
    "large": (
        keras.applications.MobileNetV3Large,
        ("expanded_conv_2_add", "expanded_conv_5_add", "expanded_conv_11_add", "conv_1_act"),
        {2: _blocks(BLOCK, 1, 2), 3: _blocks(BLOCK, 3, 5), 4: _blocks(BLOCK, 6, 11), 5: _blocks(BLOCK, 12, 14) + LAST},
    ),
    "small": (
        keras.applications.MobileNetV3Small,
        ("expanded_conv_project_bn", "expanded_conv_2_add", "expanded_conv_7_add", "conv_1_act"),
        {2: BLOCK_0, 3: _blocks(BLOCK, 1, 2), 4: _blocks(BLOCK, 3, 7), 5: _blocks(BLOCK, 8, 10) + LAST},
    ),
}
# The (alpha, minimalistic) pairs keras.applications publishes ImageNet weights for.
IMAGENET = {(0.75, False), (1.0, False), (1.0, True)}
UNNAMED = re.compile(r"(?:re_lu|activation)(?:_\d+)?")


def name_activations(model):
    """Rename the application's auto-named ReLU/Activation layers after the layer before each (in place)."""
    previous = None
    for layer in model.layers:
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Activation)) and UNNAMED.fullmatch(layer.name):
            layer.name = f"{previous.removesuffix('_bn')}_act"
        previous = layer.name
    return model


def _application(constructor):
    """`constructor` without its own preprocessing, its activations named."""

    def build(**kwargs):
        return name_activations(constructor(include_preprocessing=False, **kwargs))

    return build


@register_backbone("mobilenet_v3")
def mobilenet_v3(
    input_shape=(None, None, 3), weights=None, train_bn=False, size="large", alpha=1.0, minimalistic=False
):
    """MobileNetV3 `size` ("large" or "small") with width multiplier `alpha`.

    C2..C5 channels at alpha 1: Large 24, 40, 112, 960; Small 16, 24, 48, 576. ImageNet weights exist for
    alpha 0.75 and 1.0, and for minimalistic at 1.0 only.
    """
    if size not in LAYOUTS:
        raise ValueError(f"mobilenet_v3: size must be one of {', '.join(LAYOUTS)}, got {size!r}")
    constructor, taps, stage_patterns = LAYOUTS[size]
    imagenet_file = None
    if (float(alpha), bool(minimalistic)) in IMAGENET:
        variant = f"{size}{'_minimalistic' if minimalistic else ''}_224_{float(alpha)}_float"
        imagenet_file = f"weights_mobilenet_v3_{variant}_no_top_v2.h5"
    return from_application(
        _application(constructor),
        name="mobilenet_v3",
        taps=taps,
        strides=STRIDES,
        stage_patterns=stage_patterns,
        normalization=symmetric_normalization(),
        input_shape=input_shape,
        weights=weights,
        imagenet_file=imagenet_file,
        train_bn=train_bn,
        alpha=alpha,
        minimalistic=minimalistic,
    )
