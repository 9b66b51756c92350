"""DetectionLayer: refined, class-wise NMS'd detections from the box head."""

import keras
from keras import ops

from mrcnn.modeling import boxes as box_ops
from mrcnn.modeling import tf_ops


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionLayer(keras.layers.Layer):
    """Inputs: [rois [batch, N, 4] normalised, probs [batch, N, classes], deltas [batch, N, classes, 4]].

    Output: [batch, max_instances, (y1, x1, y2, x2, class_id, score)] sorted by score; empty slots
    are all zero (score 0). Scores >= min_confidence are kept, as in matterport; a score or box that is
    not finite (NaN/inf input) never is. per_class=False (matterport's rule): each ROI is scored for its
    top class only, and an ROI whose top class is background gives nothing. per_class=True: every foreground
    class is scored separately, so one ROI can yield detections of two classes.
    """

    def __init__(self, max_instances, min_confidence, nms_threshold, std_dev, per_class=True, **kwargs):
        super().__init__(**kwargs)
        self.max_instances = int(max_instances)
        self.min_confidence = float(min_confidence)
        self.nms_threshold = float(nms_threshold)
        self.std_dev = [float(s) for s in std_dev]
        self.per_class = bool(per_class)

    def call(self, inputs):
        rois, probs, deltas = inputs
        refined = box_ops.clip(box_ops.decode(rois[:, :, None, :], deltas, self.std_dev))[:, :, 1:]
        finite = ops.logical_and(ops.all(ops.isfinite(refined), axis=-1), ops.isfinite(probs[:, :, 1:]))
        live = ops.logical_and((box_ops.area(rois) > 0)[..., None], finite)
        if not self.per_class:
            top = ops.cast(ops.argmax(probs, axis=-1), "int32")[..., None]  # over all classes, background too
            foreground_ids = ops.arange(1, ops.shape(probs)[-1], dtype="int32")[None, None, :]
            live = ops.logical_and(live, ops.equal(top, foreground_ids))
        scores = ops.where(live, probs[:, :, 1:], -1.0)  # padded ROIs can never pass the threshold
        refined = ops.where(finite[..., None], refined, 0.0)
        foreground = ops.shape(scores)[2]
        batch = ops.shape(scores)[0]
        boxes = ops.reshape(refined, (batch, -1, 4))
        scores = ops.reshape(scores, (batch, -1))
        classes = ops.tile(ops.arange(1, foreground + 1, dtype="float32"), (ops.shape(rois)[1],))
        # One NMS over all classes: shifting each class's boxes apart keeps classes from suppressing each other.
        shifted = boxes + (2.0 * classes)[None, :, None]
        keep, valid = tf_ops.batched_nms(
            shifted, scores, self.max_instances, self.nms_threshold, score_threshold=self.min_confidence - 1e-6
        )
        filled = ops.cast(valid, boxes.dtype)
        kept_boxes = ops.take_along_axis(boxes, keep[..., None], axis=1) * filled[..., None]
        kept_scores = ops.take_along_axis(scores, keep, axis=1) * filled
        kept_classes = ops.take(classes, keep) * filled
        return ops.concatenate([kept_boxes, kept_classes[..., None], kept_scores[..., None]], axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "max_instances": self.max_instances,
            "min_confidence": self.min_confidence,
            "nms_threshold": self.nms_threshold,
            "std_dev": self.std_dev,
            "per_class": self.per_class,
        }


@keras.saving.register_keras_serializable(package="mrcnn")
class KeptDetections(keras.layers.Layer):
    """Drop the padding columns no image of the batch uses, so the mask head runs only on kept slots.

    Input: detections [batch, max_instances, 6]. Output: [batch, n, 6] with n = the largest
    detection count in the batch (at least 1, so shapes stay valid).
    """

    def call(self, detections):
        counts = ops.sum(ops.cast(detections[..., 5] > 0, "int32"), axis=1)
        n = ops.maximum(ops.max(counts), 1)
        return detections[:, :n]


@keras.saving.register_keras_serializable(package="mrcnn")
class SelectClassMask(keras.layers.Layer):
    """Inputs: [mask logits [batch, n, h, w, classes], detections [batch, n, 6]] → probabilities [batch, n, h, w]."""

    def call(self, inputs):
        logits, detections = inputs
        class_ids = ops.cast(detections[..., 4], "int32")
        chosen = ops.take_along_axis(logits, class_ids[:, :, None, None, None], axis=-1)
        return ops.sigmoid(chosen[..., 0])
