"""ROIAlign written with gathers and bilinear weights in keras.ops.

Unlike tf.image.crop_and_resize it is backend-neutral and compiles under XLA on CPU. One
primitive, `bilinear_crop`, serves both the feature pyramid (ROIAlign) and the mask targets
(cropping mini-masks), because both are "sample a box of a region stored in a flat table".
"""

import keras
from keras import ops

SAMPLINGS = ("mrcnn", "matterport")


def _sample_grid(start, stop, count, limit, sampling="mrcnn"):
    """Sample `count` points over a box side → (low index, high index, weight, inside), each [..., count].

    sampling "mrcnn": the centres of `count` bins over [start, stop), in continuous pixel coordinates (pixel i
    covers [i, i + 1)); samples more than one pixel outside give inside = False.
    "matterport" (tf.image.crop_and_resize): `count` evenly spaced points from start to stop inclusive, in pixel
    index coordinates (start and stop are sampled; a box over the whole region runs from 0 to limit - 1); samples
    outside [0, limit - 1] give inside = False.
    limit: [...] the region size.
    """
    if sampling == "matterport":
        steps = ops.cast(ops.arange(count), start.dtype)
        fractions = steps / (count - 1) if count > 1 else steps + 0.5
        points = start[..., None] + fractions * (stop - start)[..., None]
        limit = ops.cast(limit, start.dtype)[..., None]
        inside = ops.logical_and(points >= 0.0, points <= limit - 1.0)
    else:
        fractions = (ops.cast(ops.arange(count), start.dtype) + 0.5) / count
        points = start[..., None] + fractions * (stop - start)[..., None] - 0.5
        limit = ops.cast(limit, start.dtype)[..., None]
        inside = ops.logical_and(points >= -1.0, points <= limit)
    points = ops.clip(points, 0.0, ops.maximum(limit - 1.0, 0.0))
    low = ops.floor(points)
    high = ops.minimum(low + 1.0, ops.maximum(limit - 1.0, 0.0))
    return ops.cast(low, "int32"), ops.cast(high, "int32"), points - low, inside


def bilinear_crop(table, base, height, width, boxes, size, sampling="mrcnn"):
    """Resample boxes of regions stored row-major in a flat table.

    table: [S, C] pixels of all regions; base, height, width: [...] int32 per box: the region's
    first row in `table`, its rows and its columns; boxes: [..., (y1, x1, y2, x2)] in that
    region's pixel units (for sampling "matterport", pixel index units: see _sample_grid); size: (out_h, out_w).
    Returns [..., out_h, out_w, C]; samples far outside the region are zero.
    """
    y_low, y_high, y_weight, y_inside = _sample_grid(boxes[..., 0], boxes[..., 2], size[0], height, sampling)
    x_low, x_high, x_weight, x_inside = _sample_grid(boxes[..., 1], boxes[..., 3], size[1], width, sampling)
    width = width[..., None, None]
    base = base[..., None, None]
    rows_low = base + y_low[..., :, None] * width
    rows_high = base + y_high[..., :, None] * width
    cols_low = x_low[..., None, :]
    cols_high = x_high[..., None, :]
    # Four gathers rather than one over stacked indices: a stacked [4, b, R, h, w, C] tensor is 6-D,
    # more than TFLite's strided slice takes.
    corners = (rows_low + cols_low, rows_low + cols_high, rows_high + cols_low, rows_high + cols_high)
    values = [ops.take(table, index, axis=0) for index in corners]  # each [..., out_h, out_w, C]
    wy = ops.cast(y_weight[..., :, None, None], table.dtype)
    wx = ops.cast(x_weight[..., None, :, None], table.dtype)
    top = values[0] * (1 - wx) + values[1] * wx
    bottom = values[2] * (1 - wx) + values[3] * wx
    result = top * (1 - wy) + bottom * wy
    inside = ops.logical_and(y_inside[..., :, None], x_inside[..., None, :])
    return result * ops.cast(inside, table.dtype)[..., None]


def assign_levels(
    boxes, image_size, num_levels, min_level=2, canonical_size=224.0, canonical_level=4, rounding="floor"
):
    """FPN level index (0 = min_level) per box: floor(k0 + log2(sqrt(area_pixels) / 224)), clipped.

    boxes: [..., 4] normalised; image_size: (H, W) float tensor. rounding "round" (matterport's) rounds
    half to even instead of flooring.
    """
    height = (boxes[..., 2] - boxes[..., 0]) * image_size[0]
    width = (boxes[..., 3] - boxes[..., 1]) * image_size[1]
    scale = ops.sqrt(ops.maximum(height * width, 1e-6))
    level = canonical_level + ops.log2(scale / canonical_size)
    level = ops.round(level) if rounding == "round" else ops.floor(level)
    level = ops.clip(level, min_level, min_level + num_levels - 1)
    return ops.cast(level, "int32") - min_level


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidROIAlign(keras.layers.Layer):
    """ROIAlign over the FPN levels, each box read from the level that matches its size.

    Inputs: [boxes [batch, R, (y1, x1, y2, x2)] normalised, image [batch, H, W, 3], P2, ..., P5].
    Output: [batch, R, pool, pool, channels].
    sampling (Config.ROI_ALIGN): "mrcnn", one sample at each bin centre, level floor(4 + log2(sqrt(area) / 224));
    "matterport", tf.image.crop_and_resize's samples (a normalised coordinate c lands on c * (size - 1) of the
    level, the box's first and last samples on its edges), level rounded instead of floored.
    """

    def __init__(self, pool_size, sampling="mrcnn", **kwargs):
        super().__init__(**kwargs)
        if sampling not in SAMPLINGS:
            raise ValueError(f"sampling must be one of {SAMPLINGS}, got {sampling!r}")
        self.pool_size = (int(pool_size[0]), int(pool_size[1]))
        self.sampling = sampling

    def call(self, inputs):
        boxes, image, features = inputs[0], inputs[1], inputs[2:]
        image_size = ops.cast(ops.shape(image)[1:3], "float32")
        matterport = self.sampling == "matterport"
        level = assign_levels(boxes, image_size, len(features), rounding="round" if matterport else "floor")
        heights = ops.stack([ops.shape(f)[1] for f in features])
        widths = ops.stack([ops.shape(f)[2] for f in features])
        sizes = heights * widths
        offsets = ops.cumsum(sizes) - sizes
        total = ops.sum(sizes)
        channels = ops.shape(features[0])[-1]
        table = ops.concatenate([ops.reshape(f, (ops.shape(f)[0], -1, channels)) for f in features], axis=1)
        table = ops.reshape(table, (-1, channels))
        batch, rois = ops.shape(boxes)[0], ops.shape(boxes)[1]
        image_base = ops.broadcast_to(ops.arange(batch)[:, None] * total, (batch, rois))
        level_h = ops.take(heights, level)
        level_w = ops.take(widths, level)
        scale = ops.cast(ops.stack([level_h, level_w, level_h, level_w], axis=-1), boxes.dtype)
        if matterport:
            scale = scale - 1.0
        return bilinear_crop(
            table, image_base + ops.take(offsets, level), level_h, level_w, boxes * scale, self.pool_size, self.sampling
        )

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "sampling": self.sampling}
