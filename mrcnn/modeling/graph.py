"""Assemble the Keras graphs from a Config: the parts are built elsewhere, this only wires them.

image → backbone C2..C5 → FPN P2..P6 → RPN → proposals → ROIAlign → heads → detections / losses.
"""

import keras

from mrcnn.backbones import build_backbone
from mrcnn.backbones.normalize import use_mean_pixel
from mrcnn.config import ConfigError
from mrcnn.data.batch import batch_layout, image_shape
from mrcnn.engine.training import TrainingModel
from mrcnn.modeling.anchors import PyramidAnchors
from mrcnn.modeling.detection import DetectionLayer, KeptDetections, SelectClassMask
from mrcnn.modeling.fpn import build_fpn
from mrcnn.modeling.gradient import GradientScale
from mrcnn.modeling.heads import box_head, mask_head
from mrcnn.modeling.losses import LOSS_NAMES, LossLayer
from mrcnn.modeling.proposals import ProposalLayer
from mrcnn.modeling.roi_align import PyramidROIAlign
from mrcnn.modeling.rpn import apply_rpn, build_rpn_model
from mrcnn.modeling.stage_names import MatterportStageNames
from mrcnn.modeling.targets import DetectionTargets, RpnTargets
from mrcnn.weights import h5 as weights_io

RESNETS = ("resnet50", "resnet101")  # the builders that take stem= (mrcnn/backbones/resnet.py)

__all__ = ["LOSS_NAMES", "InferenceModel", "build_inference_graph", "build_training_graph", "pyramid_strides"]


@keras.saving.register_keras_serializable(package="mrcnn")
class InferenceModel(MatterportStageNames, weights_io.LegacyH5Weights, keras.Model):
    """The inference graph's model: a functional keras.Model whose save_weights also writes legacy .h5."""


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


def backbone_options(config):
    """BACKBONE_OPTIONS plus the ResNet stem (Config.RESNET_STEM) when it is not keras.applications' own."""
    options = dict(config.BACKBONE_OPTIONS)
    if config.RESNET_STEM != "keras":
        if config.BACKBONE not in RESNETS:
            raise ConfigError(
                f"RESNET_STEM={config.RESNET_STEM!r} needs a ResNet backbone ({', '.join(RESNETS)}), "
                f"got BACKBONE={config.BACKBONE!r}; keep RESNET_STEM = 'keras'"
            )
        options["stem"] = config.RESNET_STEM
    return options


def _trunk(config, image):
    """Backbone, FPN, RPN and anchors shared by both modes."""
    backbone = build_backbone(
        config.BACKBONE,
        input_shape=image_shape(config),
        weights=None,
        train_bn=config.TRAIN_BN,
        **backbone_options(config),
    )
    if not config.default_mean_pixel():
        try:
            use_mean_pixel(backbone.model, config.MEAN_PIXEL)
        except ValueError as err:
            raise ConfigError(f"MEAN_PIXEL={list(config.MEAN_PIXEL)}: {err}") from None
    strides = pyramid_strides(config, backbone)
    # C2..C5 as named layers of this graph (matterport's res2c_out ... on ResNet; see Backbone.tap_names),
    # passing the backbone's dtype through under mixed precision.
    features = [
        keras.layers.Identity(name=name, autocast=False)(f)
        for name, f in zip(backbone.tap_names, backbone.model(image))
    ]
    if config.BACKBONE_GRADIENT_SCALE != 1:
        features = [
            GradientScale(config.BACKBONE_GRADIENT_SCALE, name=f"backbone_gradient_c{i + 2}")(f)
            for i, f in enumerate(features)
        ]
    pyramid = build_fpn(*features, config.TOP_DOWN_PYRAMID_SIZE, config.PYRAMID_CONV)
    anchors_per_cell = len(config.RPN_ANCHOR_RATIOS) * len(config.RPN_ANCHOR_OCTAVES)
    rpn_model = build_rpn_model(
        anchors_per_cell,
        config.TOP_DOWN_PYRAMID_SIZE,
        config.RPN_CONV_CHANNELS,
        config.RPN_ANCHOR_STRIDE,
        config.PYRAMID_CONV,
    )
    rpn_logits, rpn_probs, rpn_deltas = apply_rpn(rpn_model, pyramid)
    anchors = PyramidAnchors(
        config.RPN_ANCHOR_SCALES,
        config.RPN_ANCHOR_RATIOS,
        strides,
        config.RPN_ANCHOR_OCTAVES,
        config.RPN_ANCHOR_STRIDE,
        config.RPN_ANCHOR_OFFSET,
        config.BOX_NORMALIZATION,
        name="anchors",
    )([image] + pyramid)
    return backbone, pyramid, (rpn_logits, rpn_probs, rpn_deltas), anchors


def _proposals(config, rpn_probs, rpn_deltas, anchors, count):
    """The top `count` RPN boxes after NMS, normalised: [b, count, 4]."""
    return ProposalLayer(config.PRE_NMS_LIMIT, count, config.RPN_NMS_THRESHOLD, config.RPN_BBOX_STD_DEV, name="ROI")(
        [rpn_probs, rpn_deltas, anchors]
    )


def _box_branch(config, rois, image, pyramid):
    """ROIAlign + box head on `rois` [b, R, 4]: class logits, probabilities and deltas."""
    features = PyramidROIAlign((config.POOL_SIZE,) * 2, config.ROI_ALIGN, name="roi_align_classifier")(
        [rois, image] + pyramid[:4]
    )
    return box_head(features, config.NUM_CLASSES, config.FPN_CLASSIF_FC_LAYERS_SIZE)


def _mask_branch(config, rois, image, pyramid):
    """ROIAlign + mask head on `rois` [b, R, 4]: mask logits [b, R, h, w, classes]."""
    features = PyramidROIAlign((config.MASK_POOL_SIZE,) * 2, config.ROI_ALIGN, name="roi_align_mask")(
        [rois, image] + pyramid[:4]
    )
    return mask_head(features, config.NUM_CLASSES, config.MASK_HEAD_CHANNELS, config.MASK_HEAD_CONVS)


def build_inference_graph(config):
    """Model: image [b, H, W, 3] raw RGB → detections [b, D, 6] and mask probabilities [b, n, h, w].

    Detections are (y1, x1, y2, x2, class_id, score), normalised, score 0 = empty slot; masks
    belong to the first n detection slots (n = most detections of any image in the batch).
    """
    image = keras.Input(image_shape(config), name="input_image")
    backbone, pyramid, (_, rpn_probs, rpn_deltas), anchors = _trunk(config, image)
    proposals = _proposals(config, rpn_probs, rpn_deltas, anchors, config.POST_NMS_ROIS_INFERENCE)
    _, probs, deltas = _box_branch(config, proposals, image, pyramid)
    detections = DetectionLayer(
        config.DETECTION_MAX_INSTANCES,
        config.DETECTION_MIN_CONFIDENCE,
        config.DETECTION_NMS_THRESHOLD,
        config.BBOX_STD_DEV,
        per_class=config.DETECTION_PER_CLASS,
        name="mrcnn_detection",
    )([proposals, probs, deltas])
    kept = KeptDetections(name="kept_detections")(detections)
    mask_logits = _mask_branch(config, kept[..., :4], image, pyramid)
    masks = SelectClassMask(name="mrcnn_mask_select")([mask_logits, kept])
    model = InferenceModel(image, [detections, masks], name="mask_rcnn")
    return model, backbone


def build_training_graph(config, seed=None):
    """TrainingModel: dict of ground-truth inputs (mrcnn.data.batch) → dict of the five losses."""
    inputs = {name: keras.Input(shape, dtype=dtype, name=name) for name, (shape, dtype) in batch_layout(config).items()}
    image = inputs["image"]
    backbone, pyramid, (rpn_logits, rpn_probs, rpn_deltas), anchors = _trunk(config, image)
    rpn_match, rpn_target_deltas = RpnTargets(
        config.RPN_TRAIN_ANCHORS_PER_IMAGE, config.RPN_BBOX_STD_DEV, seed=seed, name="rpn_targets"
    )([anchors, inputs["gt_class_ids"], inputs["gt_boxes"]])
    proposals = _proposals(config, rpn_probs, rpn_deltas, anchors, config.POST_NMS_ROIS_TRAINING)
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
    logits, _, deltas = _box_branch(config, rois, image, pyramid)
    mask_logits = _mask_branch(config, rois[:, : targets.positive_slots], image, pyramid)
    outputs = LossLayer(name="losses")(
        dict(
            rpn_match=rpn_match,
            rpn_target_deltas=rpn_target_deltas,
            rpn_logits=rpn_logits,
            rpn_deltas=rpn_deltas,
            class_ids=class_ids,
            target_deltas=target_deltas,
            target_masks=target_masks,
            valid=valid,
            logits=logits,
            deltas=deltas,
            mask_logits=mask_logits,
        )
    )
    model = TrainingModel(
        inputs=inputs,
        outputs=outputs,
        loss_names=LOSS_NAMES,
        loss_weights=config.LOSS_WEIGHTS,
        name="mask_rcnn_training",
    )
    return model, backbone
