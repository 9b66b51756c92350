"""matterport's numpy training data: load_image_gt, build_rpn_targets and data_generator.

The library trains with mrcnn.data.generator (RPN and ROI targets computed in-graph); these faces give
matterport's notebooks and scripts the arrays they inspect, built from the same loading code and, for
the ROI targets, the training graph's own sampler (mrcnn.modeling.targets.DetectionTargets).
"""

import copy

import numpy as np
from keras import ops

from mrcnn.data import augment as augment_lib
from mrcnn.data.boxes import box_refinement, compute_overlaps, denorm_boxes, norm_boxes
from mrcnn.data.generator import load_example
from mrcnn.inference.mold import compose_image_meta, mold_image, resize_for_model
from mrcnn.modeling.anchors import model_anchors
from mrcnn.modeling.targets import DetectionTargets


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


def generate_random_rois(image_shape, count, gt_class_ids, gt_boxes):
    """matterport's random ROIs: int32 [count, (y1, x1, y2, x2)] pixels, at least 1 px each.

    90 % are spread over the ground-truth boxes (class id > 0; padding is left out), drawn inside each box
    grown by its own size on every side; the rest anywhere in the image (all of them when there is no box).
    """
    height, width = image_shape[:2]
    gt_boxes = np.asarray(gt_boxes, np.float32).reshape(-1, 4)[np.asarray(gt_class_ids).reshape(-1) > 0]
    per_box = int(0.9 * count / len(gt_boxes)) if len(gt_boxes) else 0
    size = np.concatenate([gt_boxes[:, 2:] - gt_boxes[:, :2]] * 2, axis=1)
    grown = np.clip(gt_boxes + size * [-1, -1, 1, 1], 0, [height, width, height, width])
    frames = np.concatenate(
        [np.repeat(grown, per_box, axis=0), np.tile([[0, 0, height, width]], (count - per_box * len(gt_boxes), 1))]
    )
    ys = np.sort(np.random.uniform(frames[:, :1], frames[:, 2:3], (count, 2)), axis=1)
    xs = np.sort(np.random.uniform(frames[:, 1:2], frames[:, 3:], (count, 2)), axis=1)
    y1, x1 = np.minimum(np.floor(ys[:, 0]), height - 1), np.minimum(np.floor(xs[:, 0]), width - 1)
    y2, x2 = np.clip(np.ceil(ys[:, 1]), y1 + 1, height), np.clip(np.ceil(xs[:, 1]), x1 + 1, width)
    return np.stack([y1, x1, y2, x2], axis=1).astype(np.int32)


def build_detection_targets(rpn_rois, gt_class_ids, gt_boxes, gt_masks, config, image_shape=None, sampler=None):
    """matterport's ROI targets for one image, by the training graph's rules (DetectionTargets).

    rpn_rois [N, 4] and gt_boxes [G, 4] pixels of the molded image (image_shape, default IMAGE_SHAPE),
    gt_masks [h, w, G] as load_image_gt gives them (mini masks when config.USE_MINI_MASK). Returns
    rois int32 [R, 4] pixels (unused slots zero), class_ids int32 [R], bbox float32 [R, NUM_CLASSES, 4]
    (deltas / BBOX_STD_DEV at each positive's class) and mask float32 [R, MASK_SHAPE..., NUM_CLASSES]
    (each positive's target at its class), R = TRAIN_ROIS_PER_IMAGE.
    """
    sampler = sampler or _sampler(config)
    shape = tuple(config.IMAGE_SHAPE if image_shape is None else image_shape)[:2]
    inputs = [
        norm_boxes(rpn_rois, shape, config.BOX_NORMALIZATION)[None],
        np.asarray(gt_class_ids, np.int32)[None],
        norm_boxes(np.asarray(gt_boxes).reshape(-1, 4), shape, config.BOX_NORMALIZATION)[None],
        np.transpose(np.asarray(gt_masks, np.float32), (2, 0, 1))[None],
    ]
    rois, class_ids, deltas, masks, _ = (
        ops.convert_to_numpy(t)[0] for t in sampler([ops.convert_to_tensor(x) for x in inputs])
    )
    rows = np.arange(len(class_ids))
    bbox = np.zeros((len(rois), config.NUM_CLASSES, 4), np.float32)
    bbox[rows, class_ids] = deltas
    mask = np.zeros((len(rois),) + tuple(config.MASK_SHAPE) + (config.NUM_CLASSES,), np.float32)
    positives = rows[: len(masks)][class_ids[: len(masks)] > 0]
    mask[positives, :, :, class_ids[positives]] = masks[positives]
    pixels = denorm_boxes(rois, shape, config.BOX_NORMALIZATION)
    return pixels, class_ids.astype(np.int32), bbox, mask


def _sampler(config):
    return DetectionTargets(
        config.TRAIN_ROIS_PER_IMAGE,
        config.ROI_POSITIVE_RATIO,
        config.MASK_SHAPE,
        config.USE_MINI_MASK,
        config.BBOX_STD_DEV,
    )


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
    """matterport's endless generator of (inputs, outputs) for its training graph.

    inputs: [images (mold_image) [b, H, W, 3], image_meta [b, META], rpn_match [b, A, 1],
    rpn_bbox [b, RPN_TRAIN_ANCHORS_PER_IMAGE, 4], gt_class_ids [b, G], gt_boxes [b, G, 4] pixels,
    gt_masks [b, h, w, G]] with G = MAX_GT_INSTANCES and the model's anchors; outputs [].
    random_rois=N adds rpn_rois [b, N, 4] (generate_random_rois) to inputs; with detection_targets too,
    inputs also get rois [b, R, 4] and outputs are [class_ids [b, R, 1], bbox [b, R, C, 4],
    mask [b, R, h, w, C]] (build_detection_targets), as in matterport (which ignores detection_targets
    without random_rois).
    """
    ids = np.copy(dataset.image_ids)
    if not len(ids):
        raise ValueError("The dataset has no images; did you call dataset.prepare() after adding images?")
    plain_sources = set(no_augmentation_sources or ())
    anchors = model_anchors(config, config.IMAGE_SHAPE)
    sampler = _sampler(config) if random_rois and detection_targets else None
    while True:
        if shuffle:
            np.random.shuffle(ids)
        for start in range(0, len(ids), batch_size):
            chosen = [ids[(start + j) % len(ids)] for j in range(batch_size)]
            inputs = _batch(dataset, config, chosen, anchors, augment, augmentation, plain_sources)
            yield _with_rois(inputs, config, random_rois, sampler)


def _with_rois(inputs, config, random_rois, sampler):
    """(inputs, outputs) with matterport's random ROIs and, given a sampler, their targets."""
    if not random_rois:
        return inputs, []
    images, _, _, _, gt_class_ids, gt_boxes, gt_masks = inputs
    shape = images.shape[1:3]
    rpn_rois = np.stack([generate_random_rois(shape, random_rois, *gt) for gt in zip(gt_class_ids, gt_boxes)])
    if sampler is None:
        return inputs + [rpn_rois], []
    targets = [
        build_detection_targets(*example, config, shape, sampler)
        for example in zip(rpn_rois, gt_class_ids, gt_boxes, gt_masks)
    ]
    rois, class_ids, bbox, mask = (np.stack(column) for column in zip(*targets))
    return inputs + [rpn_rois, rois], [class_ids[..., None], bbox, mask]


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
