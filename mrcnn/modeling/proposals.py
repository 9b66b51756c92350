"""ProposalLayer: RPN outputs → the best non-overlapping anchor-refined boxes."""

import keras
from keras import ops

from mrcnn.modeling import boxes as box_ops
from mrcnn.modeling import tf_ops


@keras.saving.register_keras_serializable(package="mrcnn")
class ProposalLayer(keras.layers.Layer):
    """Top-k by objectness, decode, clip, NMS, pad.

    Inputs: [rpn_probs [batch, anchors, 2], rpn_deltas [batch, anchors, 4], anchors [anchors, 4]].
    Output: [batch, proposal_count, (y1, x1, y2, x2)] normalised; slots NMS did not fill are
    all-zero boxes (zero area, so later stages ignore them), and so are boxes that are not finite (NaN/inf
    input): those anchors rank last. No gradient flows back.
    """

    def __init__(self, pre_nms_limit, proposal_count, nms_threshold, std_dev, **kwargs):
        super().__init__(**kwargs)
        self.pre_nms_limit = int(pre_nms_limit)
        self.proposal_count = int(proposal_count)
        self.nms_threshold = float(nms_threshold)
        self.std_dev = [float(s) for s in std_dev]

    def call(self, inputs):
        return ops.stop_gradient(self.stages(*inputs)["proposals"])

    def stages(self, probs, deltas, anchors):
        """Every step of `call`, named as matterport's graph named them (its notebooks inspect them).

        pre_nms_anchors, refined_anchors, refined_anchors_clipped: [batch, k, 4] normalised, the top k =
        min(pre_nms_limit, anchors) anchors by objectness before and after their deltas and clipping;
        rpn_non_max_suppression: [batch, proposal_count] indices into those k kept by NMS (`valid` marks
        the filled slots); proposals: the layer's output.
        """
        scores = probs[..., 1]
        scores = ops.where(ops.isfinite(scores), scores, 0.0)
        count = anchors.shape[0]
        k = (
            min(self.pre_nms_limit, count)
            if count is not None
            else ops.minimum(self.pre_nms_limit, ops.shape(anchors)[0])
        )
        scores, order = ops.top_k(scores, k)
        deltas = ops.take_along_axis(deltas, order[..., None], axis=1)
        chosen = ops.take(anchors, order, axis=0)
        refined = box_ops.decode(chosen, deltas, self.std_dev)
        boxes = box_ops.clip(refined)
        boxes = ops.where(ops.all(ops.isfinite(boxes), axis=-1, keepdims=True), boxes, 0.0)
        keep, valid = tf_ops.batched_nms(boxes, scores, self.proposal_count, self.nms_threshold)
        proposals = ops.take_along_axis(boxes, keep[..., None], axis=1)
        proposals = proposals * ops.cast(valid, proposals.dtype)[..., None]
        return {
            "pre_nms_anchors": chosen,
            "refined_anchors": refined,
            "refined_anchors_clipped": boxes,
            "rpn_non_max_suppression": keep,
            "valid": valid,
            "proposals": proposals,
        }

    def get_config(self):
        return {
            **super().get_config(),
            "pre_nms_limit": self.pre_nms_limit,
            "proposal_count": self.proposal_count,
            "nms_threshold": self.nms_threshold,
            "std_dev": self.std_dev,
        }
