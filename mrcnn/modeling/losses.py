"""The five Mask R-CNN losses: pure functions of (targets, predictions), each a scalar.

Each loss averages over the items it is defined on and is 0 when there are none (an image with
no objects gives zero box and mask losses). Box losses average smooth-L1 over coordinates, as
matterport does, so its LOSS_WEIGHTS keep their meaning. `LossLayer` puts the five in the training graph.
"""

import keras
from keras import ops


def _masked_mean(values, weights):
    weights = ops.cast(weights, values.dtype)
    return ops.sum(values * weights) / ops.maximum(ops.sum(weights), 1.0)


def smooth_l1(difference):
    absolute = ops.abs(difference)
    return ops.where(absolute < 1.0, 0.5 * difference * difference, absolute - 0.5)


def rpn_class_loss(match, logits):
    """match: [b, A] in {1, -1, 0}; logits: [b, A, 2]. Cross-entropy over the sampled anchors."""
    labels = ops.cast(match == 1, "int32")
    losses = keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    return _masked_mean(losses, match != 0)


def rpn_bbox_loss(match, target_deltas, deltas):
    """Smooth-L1 over the positive anchors. target_deltas, deltas: [b, A, 4]."""
    losses = smooth_l1(target_deltas - deltas)
    return _masked_mean(losses, ops.broadcast_to((match == 1)[..., None], ops.shape(losses)))


def mrcnn_class_loss(class_ids, logits, valid):
    """class_ids: [b, R]; logits: [b, R, classes]; valid: [b, R]. Cross-entropy over sampled ROIs."""
    losses = keras.losses.sparse_categorical_crossentropy(class_ids, logits, from_logits=True)
    return _masked_mean(losses, valid)


def _class_slice(values, class_ids):
    """values [b, R, classes, ...] → the slice of each ROI's class [b, R, ...]."""
    index = ops.maximum(class_ids, 0)[:, :, None]
    for _ in range(len(values.shape) - 3):
        index = index[..., None]
    return ops.squeeze(ops.take_along_axis(values, index, axis=2), axis=2)


def mrcnn_bbox_loss(class_ids, target_deltas, deltas):
    """Smooth-L1 of the true class's deltas over positive ROIs. deltas: [b, R, classes, 4]."""
    losses = smooth_l1(target_deltas - _class_slice(deltas, class_ids))
    return _masked_mean(losses, ops.broadcast_to((class_ids > 0)[..., None], ops.shape(losses)))


def mrcnn_mask_loss(class_ids, target_masks, mask_logits):
    """Binary cross-entropy of the true class's mask over positive ROIs.

    class_ids: [b, P] (the positive slots); target_masks: [b, P, h, w]; mask_logits: [b, P, h, w, classes].
    """
    logits = ops.moveaxis(mask_logits, -1, 2)
    chosen = _class_slice(logits, class_ids)
    losses = keras.losses.binary_crossentropy(target_masks[..., None], chosen[..., None], from_logits=True)
    weights = ops.broadcast_to((class_ids > 0)[:, :, None, None], ops.shape(losses))
    return _masked_mean(losses, weights)


LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")


@keras.saving.register_keras_serializable(package="mrcnn")
class LossLayer(keras.layers.Layer):
    """Input: a dict of the targets and predictions, keyed by the loss functions' argument names.

    Output {loss name: scalar}.
    """

    def call(self, inputs):
        t = inputs
        class_ids = t["class_ids"]
        positives = t["mask_logits"].shape[1]
        return {
            "rpn_class_loss": rpn_class_loss(t["rpn_match"], t["rpn_logits"]),
            "rpn_bbox_loss": rpn_bbox_loss(t["rpn_match"], t["rpn_target_deltas"], t["rpn_deltas"]),
            "mrcnn_class_loss": mrcnn_class_loss(class_ids, t["logits"], t["valid"]),
            "mrcnn_bbox_loss": mrcnn_bbox_loss(class_ids, t["target_deltas"], t["deltas"]),
            "mrcnn_mask_loss": mrcnn_mask_loss(class_ids[:, :positives], t["target_masks"], t["mask_logits"]),
        }
