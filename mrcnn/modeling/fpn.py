"""Feature Pyramid Network: C2..C5 → P2..P6 (top-down path with lateral 1x1 convolutions)."""

from keras import layers


def conv3x3(filters, name, kind="conv", **kwargs):
    """A same-padded 3x3 convolution: "conv" (Conv2D) or "separable" (SeparableConv2D: depthwise 3x3, then
    pointwise 1x1; about 9 + filters multiply-adds per output value instead of 9 * filters)."""
    layer = {"conv": layers.Conv2D, "separable": layers.SeparableConv2D}[kind]
    return layer(filters, 3, padding="same", name=name, **kwargs)


def build_fpn(c2, c3, c4, c5, size, conv="conv"):
    """P2..P6, each with `size` channels; P6 is P5 subsampled by 2 (used by the RPN only).

    conv: the kind of the 3x3 output convolutions (see conv3x3). Layer names follow matterport (fpn_c5p5,
    fpn_p5upsampled, fpn_p4add, fpn_p2, ...).
    """
    p5 = layers.Conv2D(size, 1, name="fpn_c5p5")(c5)
    merged = {5: p5}
    for level, c in ((4, c4), (3, c3), (2, c2)):
        upsampled = layers.UpSampling2D(2, name=f"fpn_p{level + 1}upsampled")(merged[level + 1])
        lateral = layers.Conv2D(size, 1, name=f"fpn_c{level}p{level}")(c)
        merged[level] = layers.Add(name=f"fpn_p{level}add")([upsampled, lateral])
    outputs = [conv3x3(size, f"fpn_p{level}", conv)(merged[level]) for level in (2, 3, 4, 5)]
    p6 = layers.MaxPooling2D(pool_size=1, strides=2, name="fpn_p6")(outputs[-1])
    return outputs + [p6]
