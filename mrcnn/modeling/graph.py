"""Assemble the Keras graphs from a Config: the parts are built elsewhere, this only wires them.

image → backbone C2..C5 → FPN P2..P6 → RPN → proposals → ROIAlign → heads → detections / losses.
"""

import keras
from keras import layers

from mrcnn.backbones import build_backbone
from mrcnn.config import ConfigError
from mrcnn.engine.training import TrainingModel
from mrcnn.modeling import losses
from mrcnn.modeling.anchors import PyramidAnchors
from mrcnn.modeling.detection import DetectionLayer, KeptDetections, SelectClassMask
from mrcnn.modeling.fpn import build_fpn
from mrcnn.modeling.heads import box_head, mask_head
from mrcnn.modeling.proposals import ProposalLayer
from mrcnn.modeling.roi_align import PyramidROIAlign
from mrcnn.modeling.rpn import apply_rpn, build_rpn_model
from mrcnn.modeling.targets import DetectionTargets, RpnTargets

LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")


def image_input_shape(config):
    """Fixed (S, S, 3) for the square/crop modes, so shapes (and anchors) are static; else (None, None, 3)."""
    if config.IMAGE_RESIZE_MODE in ("square", "crop"):
        size = int(config.IMAGE_SHAPE[0])
        return (size, size, 3)
    return (None, None, 3)


@keras.saving.register_keras_serializable(package="mrcnn")
class GradientScale(layers.Layer):
    """Identity forward; multiplies the gradient flowing back by `scale` (a backbone learning-rate multiplier)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        return x * self.scale + keras.ops.stop_gradient(x * (1.0 - self.scale))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def pyramid_strides(config, backbone):
    """Strides of P2..P6: the backbone's C2..C5 strides, then P6 = P5 subsampled by 2.

    Raises ConfigError if the FPN cannot take the backbone's outputs or BACKBONE_STRIDES disagrees.
    """
    strides = list(backbone.strides) + [2 * backbone.strides[-1]]
    if len(strides) != 5 or any(b != 2 * a for a, b in zip(strides, strides[1:])):
        raise ConfigError(
            f"Backbone {backbone.name!r} has strides {backbone.strides}; the FPN needs four outputs C2..C5, "
            "each at half the resolution of the one before"
        )
    if [int(s) for s in config.BACKBONE_STRIDES] != strides:
        raise ConfigError(
            f"Backbone {backbone.name!r} has strides {backbone.strides}, so P2..P6 have strides {strides}, "
            f"but BACKBONE_STRIDES is {list(config.BACKBONE_STRIDES)}; set BACKBONE_STRIDES = {strides}"
        )
    return strides


def _trunk(config, image):
    """Backbone, FPN, RPN and anchors shared by both modes."""
    backbone = build_backbone(
        config.BACKBONE,
        input_shape=image_input_shape(config),
        weights=None,
        train_bn=config.TRAIN_BN,
        **dict(config.BACKBONE_OPTIONS),
    )
    strides = pyramid_strides(config, backbone)
    features = backbone.model(image)
    if config.BACKBONE_GRADIENT_SCALE != 1:
        features = [
            GradientScale(config.BACKBONE_GRADIENT_SCALE, name=f"backbone_gradient_c{i + 2}")(f)
            for i, f in enumerate(features)
        ]
    pyramid = build_fpn(*features, config.TOP_DOWN_PYRAMID_SIZE)
    anchors_per_cell = len(config.RPN_ANCHOR_RATIOS) * len(config.RPN_ANCHOR_OCTAVES)
    rpn_model = build_rpn_model(
        anchors_per_cell, config.TOP_DOWN_PYRAMID_SIZE, config.RPN_CONV_CHANNELS, config.RPN_ANCHOR_STRIDE
    )
    rpn_logits, rpn_probs, rpn_deltas = apply_rpn(rpn_model, pyramid)
    anchors = PyramidAnchors(
        config.RPN_ANCHOR_SCALES,
        config.RPN_ANCHOR_RATIOS,
        strides,
        config.RPN_ANCHOR_OCTAVES,
        config.RPN_ANCHOR_STRIDE,
        name="anchors",
    )([image] + pyramid)
    return backbone, pyramid, (rpn_logits, rpn_probs, rpn_deltas), anchors


def _heads(config, rois, image, pyramid, mask_rois=None):
    """Box head on `rois`, mask head on `mask_rois` (default: the same ROIs)."""
    box_features = PyramidROIAlign((config.POOL_SIZE,) * 2, name="roi_align_classifier")([rois, image] + pyramid[:4])
    logits, probs, deltas = box_head(box_features, config.NUM_CLASSES, config.FPN_CLASSIF_FC_LAYERS_SIZE)
    mask_features = PyramidROIAlign((config.MASK_POOL_SIZE,) * 2, name="roi_align_mask")(
        [rois if mask_rois is None else mask_rois, image] + pyramid[:4]
    )
    masks = mask_head(mask_features, config.NUM_CLASSES, config.MASK_HEAD_CHANNELS, config.MASK_HEAD_CONVS)
    return logits, probs, deltas, masks


def build_inference_graph(config):
    """Model: image [b, H, W, 3] raw RGB → detections [b, D, 6] and mask probabilities [b, n, h, w].

    Detections are (y1, x1, y2, x2, class_id, score), normalised, score 0 = empty slot; masks
    belong to the first n detection slots (n = most detections of any image in the batch).
    """
    image = keras.Input(image_input_shape(config), name="input_image")
    backbone, pyramid, (_, rpn_probs, rpn_deltas), anchors = _trunk(config, image)
    proposals = ProposalLayer(
        config.PRE_NMS_LIMIT,
        config.POST_NMS_ROIS_INFERENCE,
        config.RPN_NMS_THRESHOLD,
        config.RPN_BBOX_STD_DEV,
        name="ROI",
    )([rpn_probs, rpn_deltas, anchors])
    box_features = PyramidROIAlign((config.POOL_SIZE,) * 2, name="roi_align_classifier")(
        [proposals, image] + pyramid[:4]
    )
    _, probs, deltas = box_head(box_features, config.NUM_CLASSES, config.FPN_CLASSIF_FC_LAYERS_SIZE)
    detections = DetectionLayer(
        config.DETECTION_MAX_INSTANCES,
        config.DETECTION_MIN_CONFIDENCE,
        config.DETECTION_NMS_THRESHOLD,
        config.BBOX_STD_DEV,
        name="mrcnn_detection",
    )([proposals, probs, deltas])
    kept = KeptDetections(name="kept_detections")(detections)
    mask_features = PyramidROIAlign((config.MASK_POOL_SIZE,) * 2, name="roi_align_mask")(
        [kept[..., :4], image] + pyramid[:4]
    )
    mask_logits = mask_head(mask_features, config.NUM_CLASSES, config.MASK_HEAD_CHANNELS, config.MASK_HEAD_CONVS)
    masks = SelectClassMask(name="mrcnn_mask_select")([mask_logits, kept])
    model = keras.Model(image, [detections, masks], name="mask_rcnn")
    return model, backbone


def _training_inputs(config):
    count = config.MAX_GT_INSTANCES
    if config.USE_MINI_MASK:
        mask_shape = tuple(config.MINI_MASK_SHAPE)
    else:
        mask_shape = image_input_shape(config)[:2]
    return {
        "image": keras.Input(image_input_shape(config), name="image"),
        "gt_class_ids": keras.Input((count,), dtype="int32", name="gt_class_ids"),
        "gt_boxes": keras.Input((count, 4), name="gt_boxes"),
        "gt_masks": keras.Input((count,) + mask_shape, dtype="uint8", name="gt_masks"),
    }


@keras.saving.register_keras_serializable(package="mrcnn")
class LossLayer(layers.Layer):
    """Inputs: the targets and predictions, in the order of `call`; output {loss name: scalar}."""

    def call(self, inputs):
        (
            rpn_match,
            rpn_target_deltas,
            rpn_logits,
            rpn_deltas,
            class_ids,
            target_deltas,
            target_masks,
            valid,
            logits,
            deltas,
            mask_logits,
        ) = inputs
        positives = mask_logits.shape[1]
        return {
            "rpn_class_loss": losses.rpn_class_loss(rpn_match, rpn_logits),
            "rpn_bbox_loss": losses.rpn_bbox_loss(rpn_match, rpn_target_deltas, rpn_deltas),
            "mrcnn_class_loss": losses.mrcnn_class_loss(class_ids, logits, valid),
            "mrcnn_bbox_loss": losses.mrcnn_bbox_loss(class_ids, target_deltas, deltas),
            "mrcnn_mask_loss": losses.mrcnn_mask_loss(class_ids[:, :positives], target_masks, mask_logits),
        }


def build_training_graph(config, seed=None):
    """TrainingModel: dict of ground-truth inputs (see mrcnn.data.generator) → dict of the five losses."""
    inputs = _training_inputs(config)
    image = inputs["image"]
    backbone, pyramid, (rpn_logits, rpn_probs, rpn_deltas), anchors = _trunk(config, image)
    rpn_match, rpn_target_deltas = RpnTargets(
        config.RPN_TRAIN_ANCHORS_PER_IMAGE, config.RPN_BBOX_STD_DEV, seed=seed, name="rpn_targets"
    )([anchors, inputs["gt_class_ids"], inputs["gt_boxes"]])
    proposals = ProposalLayer(
        config.PRE_NMS_LIMIT,
        config.POST_NMS_ROIS_TRAINING,
        config.RPN_NMS_THRESHOLD,
        config.RPN_BBOX_STD_DEV,
        name="ROI",
    )([rpn_probs, rpn_deltas, anchors])
    targets = DetectionTargets(
        config.TRAIN_ROIS_PER_IMAGE,
        config.ROI_POSITIVE_RATIO,
        config.MASK_SHAPE,
        config.USE_MINI_MASK,
        config.BBOX_STD_DEV,
        seed=seed,
        name="proposal_targets",
    )
    rois, class_ids, target_deltas, target_masks, valid = targets(
        [proposals, inputs["gt_class_ids"], inputs["gt_boxes"], inputs["gt_masks"]]
    )
    logits, _, deltas, mask_logits = _heads(config, rois, image, pyramid, mask_rois=rois[:, : targets.positive_slots])
    outputs = LossLayer(name="losses")(
        [
            rpn_match,
            rpn_target_deltas,
            rpn_logits,
            rpn_deltas,
            class_ids,
            target_deltas,
            target_masks,
            valid,
            logits,
            deltas,
            mask_logits,
        ]
    )
    model = TrainingModel(
        inputs=inputs,
        outputs=outputs,
        loss_names=LOSS_NAMES,
        loss_weights=config.LOSS_WEIGHTS,
        name="mask_rcnn_training",
    )
    return model, backbone
