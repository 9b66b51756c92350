"""Pyramid anchors, generated in-graph from the feature-map shapes (no anchors input)."""

import math

import keras
import numpy as np
from keras import ops

from mrcnn.data.boxes import BOX_NORMALIZATIONS


def level_anchors(height, width, stride, scale, ratios, octaves=(1.0,), anchor_stride=1, offset=0.5):
    """Anchors of one pyramid level in pixels: [rows * columns * len(octaves) * len(ratios), 4].

    Anchors are centred on every `anchor_stride`-th feature cell ((i + offset) * stride for i = 0, k, 2k, ...;
    offset 0.5 is the cell centre, 0.0 matterport's corner; rows = ceil(height / k), columns = ceil(width / k));
    ratio = width / height; each octave multiplies
    `scale`. The order is (row, column, octave, ratio), matching a [rows, columns, anchors_per_cell * k]
    head output reshaped to [-1, k].
    """
    sizes = ops.convert_to_tensor([scale * o for o in octaves for _ in ratios], "float32")
    ratios = ops.convert_to_tensor([r for _ in octaves for r in ratios], "float32")
    half_h = 0.5 * sizes / ops.sqrt(ratios)
    half_w = 0.5 * sizes * ops.sqrt(ratios)
    center_y = (ops.cast(ops.arange(0, height, anchor_stride), "float32") + offset) * stride
    center_x = (ops.cast(ops.arange(0, width, anchor_stride), "float32") + offset) * stride
    center_y, center_x = ops.meshgrid(center_y, center_x, indexing="ij")
    center_y = center_y[..., None]
    center_x = center_x[..., None]
    anchors = ops.stack([center_y - half_h, center_x - half_w, center_y + half_h, center_x + half_w], axis=-1)
    return ops.reshape(anchors, (-1, 4))


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidAnchors(keras.layers.Layer):
    """Anchors for all levels, normalised to the image: [anchors, (y1, x1, y2, x2)].

    Inputs: [image [batch, H, W, 3], P2, ..., P6]. One base scale per level, times each octave; anchors
    on every `anchor_stride`-th cell of each level, centred at (i + offset) * stride (see level_anchors).
    normalization (Config.BOX_NORMALIZATION): "mrcnn" divides by (H, W, H, W); "matterport" subtracts
    (0, 0, 1, 1) and divides by (H - 1, W - 1, H - 1, W - 1) (mrcnn.data.boxes.box_frame).
    """

    def __init__(
        self, scales, ratios, strides, octaves=(1.0,), anchor_stride=1, offset=0.5, normalization="mrcnn", **kwargs
    ):
        super().__init__(**kwargs)
        self.scales = [float(s) for s in scales]
        self.ratios = [float(r) for r in ratios]
        self.strides = [int(s) for s in strides]
        self.octaves = [float(o) for o in octaves]
        self.anchor_stride = int(anchor_stride)
        self.offset = float(offset)
        if normalization not in BOX_NORMALIZATIONS:
            raise ValueError(f"normalization must be one of {BOX_NORMALIZATIONS}, got {normalization!r}")
        self.normalization = normalization

    def call(self, inputs):
        image, features = inputs[0], inputs[1:]
        per_level = []
        for feature, stride, scale in zip(features, self.strides, self.scales):
            shape = ops.shape(feature)
            per_level.append(
                level_anchors(
                    shape[1], shape[2], stride, scale, self.ratios, self.octaves, self.anchor_stride, self.offset
                )
            )
        anchors = ops.concatenate(per_level, axis=0)
        image_shape = ops.cast(ops.shape(image)[1:3], "float32")
        if self.normalization == "matterport":
            shift = ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0], "float32")
            return (anchors - shift) / (ops.concatenate([image_shape, image_shape]) - 1.0)
        return anchors / ops.concatenate([image_shape, image_shape])

    def get_config(self):
        return {
            **super().get_config(),
            "scales": self.scales,
            "ratios": self.ratios,
            "strides": self.strides,
            "octaves": self.octaves,
            "anchor_stride": self.anchor_stride,
            "offset": self.offset,
            "normalization": self.normalization,
        }


def compute_backbone_shapes(config, image_shape):
    """[levels, (rows, columns)] of the feature maps at config.BACKBONE_STRIDES: ceil(image side / stride)."""
    if callable(config.BACKBONE):
        return np.array(config.COMPUTE_BACKBONE_SHAPE(image_shape))
    return np.array([[math.ceil(image_shape[0] / s), math.ceil(image_shape[1] / s)] for s in config.BACKBONE_STRIDES])


def model_anchors(config, image_shape):
    """The anchors the model uses (PyramidAnchors' grid) for one image shape, in pixels: numpy [A, 4]."""
    return _pyramid(
        compute_backbone_shapes(config, image_shape),
        config.BACKBONE_STRIDES,
        config.RPN_ANCHOR_SCALES,
        config.RPN_ANCHOR_RATIOS,
        config.RPN_ANCHOR_OCTAVES,
        config.RPN_ANCHOR_STRIDE,
        config.RPN_ANCHOR_OFFSET,
    )


def _pyramid(feature_shapes, feature_strides, scales, ratios, octaves, anchor_stride, offset):
    """level_anchors of every level, concatenated: numpy [A, 4] pixels."""
    levels = [
        level_anchors(int(h), int(w), stride, scale, ratios, octaves, anchor_stride, offset)
        for (h, w), stride, scale in zip(feature_shapes, feature_strides, scales)
    ]
    return np.concatenate([ops.convert_to_numpy(a) for a in levels]).astype(np.float32)


def generate_anchors(scales, ratios, shape, feature_stride, anchor_stride):
    """matterport's numpy anchors of one level in pixels: [rows * columns * len(scales) * len(ratios), 4].

    matterport centres its anchors at i * feature_stride for i = 0, anchor_stride, 2 * anchor_stride, ...
    (the model's grid with Config.RPN_ANCHOR_OFFSET = 0.0; mrcnn's default 0.5 puts them at cell centres);
    this function keeps matterport's convention so that code computing matterport's anchors gets its numbers.
    Order: (row, column, ratio-major over scales), as matterport's.
    """
    scales, ratios = np.meshgrid(np.asarray(scales, float), np.asarray(ratios, float))
    scales, ratios = scales.ravel(), ratios.ravel()
    heights = scales / np.sqrt(ratios)
    widths = scales * np.sqrt(ratios)
    centre_y = np.arange(0, shape[0], anchor_stride) * feature_stride
    centre_x = np.arange(0, shape[1], anchor_stride) * feature_stride
    centre_x, centre_y = np.meshgrid(centre_x, centre_y)
    centres = np.stack([centre_y.ravel(), centre_x.ravel()], axis=1)[:, None, :]
    sizes = np.stack([heights, widths], axis=1)[None]
    boxes = np.concatenate([centres - 0.5 * sizes, centres + 0.5 * sizes], axis=2)
    return boxes.reshape(-1, 4)


def generate_pyramid_anchors(scales, ratios, feature_shapes, feature_strides, anchor_stride):
    """generate_anchors for each level (one scale per level), concatenated: [A, 4] pixels, matterport's centres.

    A Config's RPN_ANCHOR_SCALES (mrcnn.config.AnchorScales) carries the config's octaves and offset: with more than
    one octave or a nonzero offset the result is the model's anchors for those (level_anchors, as model_anchors).
    """
    octaves, offset = getattr(scales, "octaves", (1.0,)), getattr(scales, "offset", 0.0)
    if tuple(octaves) != (1.0,) or offset:
        return _pyramid(feature_shapes, feature_strides, scales, ratios, octaves, anchor_stride, offset)
    return np.concatenate(
        [
            generate_anchors(scale, ratios, shape, stride, anchor_stride)
            for scale, shape, stride in zip(scales, feature_shapes, feature_strides)
        ]
    )
