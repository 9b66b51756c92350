"""MobileNet v1 and MobileNetV2 (keras.applications, inputs scaled to [-1, 1]) as C2..C5 backbones.

Stages follow resolution: stage k holds the blocks whose output has stride 2**k, including the
strided block that enters it, so C_k depends only on the stem and stages <= k (as in ResNet).

MobileNet v1 (taps conv_pw_{3,5,11,13}_relu): stem = conv1 + block 1 (stride 2); stage 2 = blocks
2-3, stage 3 = 4-5, stage 4 = 6-11, stage 5 = 12-13.

MobileNetV2 taps are the stage outputs block_2_add, block_5_add, block_12_add (strides 4, 8, 16)
and out_relu (stride 32, after the 1x1 Conv_1). Why these and not the wider *_expand_relu layers
(block_3/6/13_expand_relu): each tap is then the last layer at its resolution, so the stages split
on whole blocks (an expand_relu tap would cut a block between two stages), and the narrow
bottlenecks (24, 32, 96 channels at alpha 1) keep the FPN lateral 1x1 convs cheap.
Stem = Conv1 + expanded_conv (stride 2); stage 2 = blocks 1-2, stage 3 = 3-5, stage 4 = 6-12,
stage 5 = 13-16 + Conv_1 + out_relu.

weights="imagenet" loads the 224-px ImageNet file whatever the input size: detection inputs are
larger than any size keras.applications trained at.
"""

import keras

from .applications import from_application
from .normalize import symmetric_normalization
from .registry import register_backbone

STRIDES = (4, 8, 16, 32)


def _blocks(template, first, last):
    """Regex for `template` (with {} for the block number) over blocks first..last."""
    numbers = "|".join(str(n) for n in range(first, last + 1))
    return template.format(f"(?:{numbers})")


V1_STAGE_PATTERNS = {
    stage: _blocks(r"conv_(?:pad|dw|pw)_{}(?:_\w+)?", first, last)
    for stage, (first, last) in {2: (2, 3), 3: (4, 5), 4: (6, 11), 5: (12, 13)}.items()
}
V2_STAGE_PATTERNS = {
    2: _blocks(r"block_{}_\w+", 1, 2),
    3: _blocks(r"block_{}_\w+", 3, 5),
    4: _blocks(r"block_{}_\w+", 6, 12),
    5: _blocks(r"block_{}_\w+", 13, 16) + r"|Conv_1|Conv_1_bn|out_relu",
}
# keras.applications file-name spelling of each alpha with ImageNet weights.
V1_ALPHA_TEXT = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0", 0.25: "2_5"}
V2_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)


@register_backbone("mobilenet_v1")
def mobilenet_v1(input_shape=(None, None, 3), weights=None, train_bn=False, alpha=1.0):
    """MobileNet v1 with width multiplier `alpha`: C2..C5 with 128, 256, 512, 1024 * alpha channels."""
    text = V1_ALPHA_TEXT.get(float(alpha))
    return from_application(
        keras.applications.MobileNet,
        name="mobilenet_v1",
        taps=[f"conv_pw_{block}_relu" for block in (3, 5, 11, 13)],
        strides=STRIDES,
        stage_patterns=V1_STAGE_PATTERNS,
        normalization=symmetric_normalization(),
        input_shape=input_shape,
        weights=weights,
        imagenet_file=text and f"mobilenet_{text}_224_tf_no_top.h5",
        train_bn=train_bn,
        alpha=alpha,
    )


@register_backbone("mobilenet_v2")
def mobilenet_v2(input_shape=(None, None, 3), weights=None, train_bn=False, alpha=1.0):
    """MobileNetV2 with width multiplier `alpha`: C2..C5 with 24, 32, 96, 1280 channels at alpha 1."""
    imagenet_file = None
    if float(alpha) in V2_ALPHAS:
        imagenet_file = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_224_no_top.h5"
    return from_application(
        keras.applications.MobileNetV2,
        name="mobilenet_v2",
        taps=["block_2_add", "block_5_add", "block_12_add", "out_relu"],
        strides=STRIDES,
        stage_patterns=V2_STAGE_PATTERNS,
        normalization=symmetric_normalization(),
        input_shape=input_shape,
        weights=weights,
        imagenet_file=imagenet_file,
        train_bn=train_bn,
        alpha=alpha,
    )
