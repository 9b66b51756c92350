"""Second-stage heads: box/class head and mask head, applied to every ROI.

ROI tensors are [batch, rois, pool, pool, channels]; the heads fold the first two axes into one
batch of crops and unfold them at the end, so they are plain Conv2D/Dense layers with
matterport's layer names (mrcnn_class_logits, mrcnn_bbox_fc, mrcnn_mask, ...).
"""

import keras
from keras import layers, ops


@keras.saving.register_keras_serializable(package="mrcnn")
class MergeRois(layers.Layer):
    """[batch, rois, ...] → [batch * rois, ...]."""

    def call(self, x):
        return ops.reshape(x, (-1,) + tuple(x.shape[2:]))


@keras.saving.register_keras_serializable(package="mrcnn")
class SplitRois(layers.Layer):
    """Inputs [x [batch * rois, ...], reference [batch, rois, ...]] → [batch, rois, ...]."""

    def call(self, inputs):
        x, reference = inputs
        shape = ops.shape(reference)
        return ops.reshape(x, (shape[0], shape[1]) + tuple(x.shape[1:]))


def box_head(roi_features, num_classes, fc_size):
    """Class logits [batch, rois, classes], probabilities, and deltas [batch, rois, classes, 4].

    roi_features: [batch, rois, pool, pool, channels]. The two "fully connected" layers are
    convolutions (pool x pool, then 1x1), as in matterport.
    """
    pool = roi_features.shape[2]
    x = MergeRois(name="mrcnn_class_merge")(roi_features)
    x = layers.Conv2D(fc_size, pool, activation="relu", name="mrcnn_class_conv1")(x)
    x = layers.Conv2D(fc_size, 1, activation="relu", name="mrcnn_class_conv2")(x)
    x = layers.Reshape((fc_size,), name="pool_squeeze")(x)
    logits = layers.Dense(num_classes, dtype="float32", name="mrcnn_class_logits")(x)
    deltas = layers.Dense(num_classes * 4, dtype="float32", name="mrcnn_bbox_fc")(x)
    deltas = layers.Reshape((num_classes, 4), name="mrcnn_bbox")(deltas)
    logits = SplitRois(name="mrcnn_class_split")([logits, roi_features])
    probs = layers.Activation("softmax", dtype="float32", name="mrcnn_class")(logits)
    deltas = SplitRois(name="mrcnn_bbox_split")([deltas, roi_features])
    return logits, probs, deltas


def mask_head(roi_features, num_classes, channels, num_convs):
    """Mask logits [batch, rois, 2 * pool, 2 * pool, classes] from [batch, rois, pool, pool, C]."""
    x = MergeRois(name="mrcnn_mask_merge")(roi_features)
    for i in range(num_convs):
        x = layers.Conv2D(channels, 3, padding="same", activation="relu", name=f"mrcnn_mask_conv{i + 1}")(x)
    x = layers.Conv2DTranspose(channels, 2, strides=2, activation="relu", name="mrcnn_mask_deconv")(x)
    x = layers.Conv2D(num_classes, 1, dtype="float32", name="mrcnn_mask")(x)
    return SplitRois(name="mrcnn_mask_split")([x, roi_features])
