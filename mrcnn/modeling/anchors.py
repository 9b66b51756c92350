"""Pyramid anchors, generated in-graph from the feature-map shapes (no anchors input)."""

import keras
from keras import ops


def level_anchors(height, width, stride, scale, ratios, octaves=(1.0,), anchor_stride=1):
    """Anchors of one pyramid level in pixels: [rows * columns * len(octaves) * len(ratios), 4].

    Anchors are centred on every `anchor_stride`-th feature cell ((i + 0.5) * stride for i = 0, k, 2k, ...;
    rows = ceil(height / k), columns = ceil(width / k)); ratio = width / height; each octave multiplies
    `scale`. The order is (row, column, octave, ratio), matching a [rows, columns, anchors_per_cell * k]
    head output reshaped to [-1, k].
    """
    sizes = ops.convert_to_tensor([scale * o for o in octaves for _ in ratios], "float32")
    ratios = ops.convert_to_tensor([r for _ in octaves for r in ratios], "float32")
    half_h = 0.5 * sizes / ops.sqrt(ratios)
    half_w = 0.5 * sizes * ops.sqrt(ratios)
    center_y = (ops.cast(ops.arange(0, height, anchor_stride), "float32") + 0.5) * stride
    center_x = (ops.cast(ops.arange(0, width, anchor_stride), "float32") + 0.5) * stride
    center_y, center_x = ops.meshgrid(center_y, center_x, indexing="ij")
    center_y = center_y[..., None]
    center_x = center_x[..., None]
    anchors = ops.stack([center_y - half_h, center_x - half_w, center_y + half_h, center_x + half_w], axis=-1)
    return ops.reshape(anchors, (-1, 4))


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidAnchors(keras.layers.Layer):
    """Anchors for all levels, normalised to the image: [anchors, (y1, x1, y2, x2)].

    Inputs: [image [batch, H, W, 3], P2, ..., P6]. One base scale per level, times each octave; anchors
    on every `anchor_stride`-th cell of each level.
    """

    def __init__(self, scales, ratios, strides, octaves=(1.0,), anchor_stride=1, **kwargs):
        super().__init__(**kwargs)
        self.scales = [float(s) for s in scales]
        self.ratios = [float(r) for r in ratios]
        self.strides = [int(s) for s in strides]
        self.octaves = [float(o) for o in octaves]
        self.anchor_stride = int(anchor_stride)

    def call(self, inputs):
        image, features = inputs[0], inputs[1:]
        per_level = []
        for feature, stride, scale in zip(features, self.strides, self.scales):
            shape = ops.shape(feature)
            per_level.append(
                level_anchors(shape[1], shape[2], stride, scale, self.ratios, self.octaves, self.anchor_stride)
            )
        anchors = ops.concatenate(per_level, axis=0)
        image_shape = ops.cast(ops.shape(image)[1:3], "float32")
        return anchors / ops.concatenate([image_shape, image_shape])

    def get_config(self):
        return {
            **super().get_config(),
            "scales": self.scales,
            "ratios": self.ratios,
            "strides": self.strides,
            "octaves": self.octaves,
            "anchor_stride": self.anchor_stride,
        }
