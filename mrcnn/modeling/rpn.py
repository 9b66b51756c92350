"""Region Proposal Network head, shared by every pyramid level."""

import keras
from keras import layers

from mrcnn.modeling.fpn import conv3x3


def build_rpn_model(anchors_per_location, depth, channels, anchor_stride=1, conv="conv"):
    """The shared RPN head as a small model named "rpn_model" (matterport's name).

    Input: a feature map [batch, h, w, depth]; the shared conv runs with stride `anchor_stride`, so its
    output cells are the anchor cells (mrcnn.modeling.anchors.level_anchors). Outputs, per anchor in
    (row, col, ratio) order, with h and w divided by anchor_stride (rounded up):
    logits [batch, h * w * anchors, 2], probabilities [batch, h * w * anchors, 2] (background, object)
    and box deltas [batch, h * w * anchors, 4]. conv: the kind of the shared 3x3 convolution (fpn.conv3x3).
    """
    feature = keras.Input((None, None, depth), name="input_rpn_feature_map")
    shared = conv3x3(channels, "rpn_conv_shared", conv, strides=anchor_stride, activation="relu")(feature)
    logits = layers.Conv2D(2 * anchors_per_location, 1, name="rpn_class_raw")(shared)
    logits = layers.Reshape((-1, 2))(logits)
    probs = layers.Activation("softmax", dtype="float32", name="rpn_class_xxx")(logits)
    deltas = layers.Conv2D(4 * anchors_per_location, 1, name="rpn_bbox_pred")(shared)
    deltas = layers.Reshape((-1, 4))(deltas)
    return keras.Model(feature, [logits, probs, deltas], name="rpn_model")


def apply_rpn(rpn_model, feature_maps):
    """Run the shared head on every level and concatenate: (logits, probs, deltas) over all anchors."""
    per_level = [rpn_model(p) for p in feature_maps]
    names = ("rpn_class_logits", "rpn_class", "rpn_bbox")
    return [
        layers.Concatenate(axis=1, dtype="float32", name=name)([outputs[i] for outputs in per_level])
        for i, name in enumerate(names)
    ]
