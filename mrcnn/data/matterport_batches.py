"""matterport's numpy training data: load_image_gt, build_rpn_targets and data_generator.

The library trains with mrcnn.data.generator (RPN targets computed in-graph); these faces give
matterport's notebooks and scripts the arrays they inspect, built from the same loading code.
"""

import copy

import numpy as np

from mrcnn.data import augment as augment_lib
from mrcnn.data.boxes import box_refinement, compute_overlaps
from mrcnn.data.generator import load_example
from mrcnn.inference.mold import compose_image_meta, mold_image, resize_for_model
from mrcnn.modeling.anchors import model_anchors


def _augmenter(augment, augmentation):
    chosen = ([augment_lib.Fliplr(0.5)] if augment else []) + ([augmentation] if augmentation is not None else [])
    return augment_lib.Sequential(chosen) if chosen else None


def load_image_gt(dataset, config, image_id, augment=False, augmentation=None, use_mini_mask=False):
    """matterport's example: (image uint8 [H, W, 3], image_meta, class_ids int32 [N], bbox int32 [N, 4], mask).

    mask is bool [H, W, N], or [MINI_MASK_SHAPE..., N] over each box when use_mini_mask. augment is
    matterport's old flag (horizontal flip half the time); augmentation any augmenter mrcnn accepts.
    """
    local = copy.copy(config)
    local.USE_MINI_MASK = bool(use_mini_mask)
    original_shape = dataset.load_image(image_id).shape
    rng = np.random.default_rng(np.random.randint(2**31))
    image, class_ids, boxes, masks = load_example(dataset, local, image_id, _augmenter(augment, augmentation), rng)
    _, window, scale, _, _ = resize_for_model(np.zeros(original_shape[:2] + (1,), np.uint8), config, rng=rng)
    active = np.zeros(config.NUM_CLASSES, np.int32)
    active[dataset.source_class_ids[dataset.image_info[image_id]["source"]]] = 1
    meta = compose_image_meta(image_id, original_shape, image.shape, window, scale, active)
    return image, meta, class_ids, np.round(boxes).astype(np.int32), np.transpose(masks, (1, 2, 0))


def build_rpn_targets(image_shape, anchors, gt_class_ids, gt_boxes, config):
    """matterport's RPN targets in numpy, by the rules of mrcnn.modeling.targets.RpnTargets.

    Returns rpn_match int32 [A] (1 positive, -1 negative, 0 unused) and rpn_bbox float32
    [RPN_TRAIN_ANCHORS_PER_IMAGE, 4]: the positives' deltas (divided by RPN_BBOX_STD_DEV), in anchor
    order, zero-padded. Positives: IoU >= 0.7 or the best anchor of a box; negatives: IoU < 0.3 and
    no overlap with a crowd (class id < 0). At most half of the samples are positive (np.random).
    """
    gt_class_ids = np.asarray(gt_class_ids)
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)
    crowd = gt_class_ids < 0
    overlaps = compute_overlaps(anchors, gt_boxes[~crowd])
    crowd_iou = compute_overlaps(anchors, gt_boxes[crowd]).max(axis=1, initial=0.0)
    max_iou = overlaps.max(axis=1, initial=-1.0)
    best_of_gt = overlaps.max(axis=0, keepdims=True, initial=0.0)
    is_best = ((overlaps == best_of_gt) & (best_of_gt > 0)).any(axis=1)
    positive = (max_iou >= 0.7) | is_best
    negative = (max_iou < 0.3) & ~positive & (crowd_iou < 0.001)
    total = config.RPN_TRAIN_ANCHORS_PER_IMAGE
    positive_ids = _sample(np.flatnonzero(positive), total // 2)
    negative_ids = _sample(np.flatnonzero(negative), total - len(positive_ids))
    rpn_match = np.zeros(len(anchors), np.int32)
    rpn_match[positive_ids] = 1
    rpn_match[negative_ids] = -1
    rpn_bbox = np.zeros((total, 4), np.float32)
    if len(positive_ids):
        matched = gt_boxes[~crowd][overlaps[positive_ids].argmax(axis=1)]
        deltas = box_refinement(anchors[positive_ids], matched)
        rpn_bbox[: len(positive_ids)] = deltas / np.asarray(config.RPN_BBOX_STD_DEV, np.float32)
    return rpn_match, rpn_bbox


def _sample(ids, limit):
    return np.sort(np.random.choice(ids, limit, replace=False)) if len(ids) > limit else ids


def data_generator(
    dataset,
    config,
    shuffle=True,
    augment=False,
    augmentation=None,
    random_rois=0,
    batch_size=1,
    detection_targets=False,
    no_augmentation_sources=None,
):
    """matterport's endless generator of (inputs, outputs) for its training graph; outputs is [].

    inputs: [images (mold_image) [b, H, W, 3], image_meta [b, META], rpn_match [b, A, 1],
    rpn_bbox [b, RPN_TRAIN_ANCHORS_PER_IMAGE, 4], gt_class_ids [b, G], gt_boxes [b, G, 4] pixels,
    gt_masks [b, h, w, G]] with G = MAX_GT_INSTANCES and the model's anchors.
    """
    if random_rois or detection_targets:
        raise NotImplementedError(
            "data_generator: random_rois/detection_targets are unsupported (mrcnn samples ROIs in-graph); pass 0/False"
        )
    ids = np.copy(dataset.image_ids)
    if not len(ids):
        raise ValueError("The dataset has no images; did you call dataset.prepare() after adding images?")
    plain_sources = set(no_augmentation_sources or ())
    anchors = model_anchors(config, config.IMAGE_SHAPE)
    while True:
        if shuffle:
            np.random.shuffle(ids)
        for start in range(0, len(ids), batch_size):
            chosen = [ids[(start + j) % len(ids)] for j in range(batch_size)]
            yield _batch(dataset, config, chosen, anchors, augment, augmentation, plain_sources), []


def _batch(dataset, config, image_ids, anchors, augment, augmentation, plain_sources):
    columns = []
    for image_id in image_ids:
        plain = dataset.image_info[image_id]["source"] in plain_sources
        image, meta, class_ids, boxes, masks = load_image_gt(
            dataset,
            config,
            image_id,
            augment=augment and not plain,
            augmentation=None if plain else augmentation,
            use_mini_mask=config.USE_MINI_MASK,
        )
        rpn_match, rpn_bbox = build_rpn_targets(image.shape, anchors, class_ids, boxes, config)
        count = min(len(class_ids), config.MAX_GT_INSTANCES)
        padded_ids = np.zeros(config.MAX_GT_INSTANCES, np.int32)
        padded_boxes = np.zeros((config.MAX_GT_INSTANCES, 4), np.int32)
        padded_masks = np.zeros(masks.shape[:2] + (config.MAX_GT_INSTANCES,), bool)
        padded_ids[:count], padded_boxes[:count], padded_masks[..., :count] = (
            class_ids[:count],
            boxes[:count],
            masks[..., :count],
        )
        columns.append(
            (mold_image(image, config), meta, rpn_match[:, None], rpn_bbox, padded_ids, padded_boxes, padded_masks)
        )
    return [np.stack(column) for column in zip(*columns)]
