"""Training targets computed in-graph: RPN anchor labels and sampled second-stage ROIs.

Ground truth arrives padded to MAX_GT_INSTANCES: class id > 0 is an object, 0 is padding
(ignored everywhere), < 0 is a crowd region (never a positive; anchors/ROIs that touch it are not
used as negatives). Sampling uses random keys + top_k so every shape stays fixed.
"""

import keras
from keras import ops

from mrcnn.modeling import boxes as box_ops
from mrcnn.modeling.roi_align import bilinear_crop


def _match(candidates, gt_boxes, gt_class_ids):
    """Best ground truth per candidate: (max IoU [b, n], index [b, n], crowd IoU [b, n], ious [b, n, g])."""
    ious = box_ops.iou(candidates, gt_boxes)
    objects = (gt_class_ids > 0)[:, None, :]
    crowds = (gt_class_ids < 0)[:, None, :]
    object_ious = ops.where(objects, ious, -1.0)
    crowd_iou = ops.max(ops.where(crowds, ious, 0.0), axis=2)
    return ops.max(object_ious, axis=2), ops.argmax(object_ious, axis=2), crowd_iou, object_ious


def _random_keys(mask, seed):
    """Keys in (1, 2) where mask is set, 0 elsewhere: top_k over them samples uniformly."""
    noise = keras.random.uniform(ops.shape(mask), seed=seed)
    return ops.where(mask, 1.0 + noise, 0.0)


def _gather_rows(values, indices):
    """values [b, n, ...] indexed by [b, k] → [b, k, ...]."""
    expand = indices
    for _ in range(len(values.shape) - 2):
        expand = expand[..., None]
    return ops.take_along_axis(values, expand, axis=1)


@keras.saving.register_keras_serializable(package="mrcnn")
class RpnTargets(keras.layers.Layer):
    """Inputs: [anchors [A, 4], gt_class_ids [b, G], gt_boxes [b, G, 4] normalised].

    Outputs: match [b, A] (1 positive, -1 negative, 0 unused) with at most half positives out of
    `anchors_per_image` samples, and deltas [b, A, 4] (meaningful where match == 1).
    Positives: IoU >= 0.7, or the best anchor of a ground-truth box. Negatives: IoU < 0.3.
    """

    def __init__(self, anchors_per_image, std_dev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.anchors_per_image = int(anchors_per_image)
        self.std_dev = [float(s) for s in std_dev]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        anchors, gt_class_ids, gt_boxes = inputs
        anchors = ops.broadcast_to(anchors[None], (ops.shape(gt_boxes)[0],) + tuple(ops.shape(anchors)))
        max_iou, best_gt, crowd_iou, object_ious = _match(anchors, gt_boxes, gt_class_ids)
        gt_best = ops.max(object_ious, axis=1, keepdims=True)
        is_best = ops.any(ops.logical_and(object_ious == gt_best, gt_best > 0), axis=2)
        positive = ops.logical_or(max_iou >= 0.7, is_best)
        negative = ops.logical_and(ops.logical_and(max_iou < 0.3, ops.logical_not(positive)), crowd_iou < 0.001)

        pos_keys = _random_keys(positive, self.seed_generator)
        pos_top, _ = ops.top_k(pos_keys, self.anchors_per_image // 2)
        chosen_pos = ops.logical_and(positive, pos_keys >= pos_top[:, -1:])
        needed = self.anchors_per_image - ops.sum(ops.cast(chosen_pos, "int32"), axis=1)
        neg_keys = _random_keys(negative, self.seed_generator)
        neg_top, _ = ops.top_k(neg_keys, self.anchors_per_image)
        threshold = ops.take_along_axis(neg_top, ops.maximum(needed - 1, 0)[:, None], axis=1)
        chosen_neg = ops.logical_and(negative, neg_keys >= threshold)

        match = ops.where(chosen_pos, 1, ops.where(chosen_neg, -1, 0))
        deltas = box_ops.encode(anchors, _gather_rows(gt_boxes, best_gt), self.std_dev)
        return match, deltas

    def get_config(self):
        return {
            **super().get_config(),
            "anchors_per_image": self.anchors_per_image,
            "std_dev": self.std_dev,
            "seed": self.seed,
        }


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionTargets(keras.layers.Layer):
    """Sample ROIs for the heads and build their class, box and mask targets.

    Inputs: [proposals [b, N, 4], gt_class_ids [b, G], gt_boxes [b, G, 4], gt_masks [b, G, mh, mw]].
    The ground-truth boxes are added to the proposals. With mini masks, gt_masks[g] covers
    gt_boxes[g]; otherwise it covers the whole image.
    Outputs (R = rois_per_image, P = round(R * positive_ratio); the first P slots are positives):
      rois [b, R, 4], class_ids [b, R] (0 = background), deltas [b, R, 4], masks [b, P, *mask_shape]
      in {0, 1}, valid [b, R] (1 where the slot holds a sampled ROI).
    """

    def __init__(self, rois_per_image, positive_ratio, mask_shape, use_mini_mask, std_dev, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rois_per_image = int(rois_per_image)
        self.positive_ratio = float(positive_ratio)
        self.mask_shape = tuple(int(s) for s in mask_shape)
        self.use_mini_mask = bool(use_mini_mask)
        self.std_dev = [float(s) for s in std_dev]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def positive_slots(self):
        return max(1, int(round(self.rois_per_image * self.positive_ratio)))

    def call(self, inputs):
        proposals, gt_class_ids, gt_boxes, gt_masks = inputs
        candidates = ops.concatenate([proposals, gt_boxes], axis=1)
        usable = box_ops.area(candidates) > 0
        max_iou, best_gt, crowd_iou, _ = _match(candidates, gt_boxes, gt_class_ids)
        positive = ops.logical_and(max_iou >= 0.5, usable)
        negative = ops.logical_and(ops.logical_and(max_iou < 0.5, usable), crowd_iou < 0.001)

        pos_score, pos_index = ops.top_k(_random_keys(positive, self.seed_generator), self.positive_slots)
        neg_score, neg_index = ops.top_k(
            _random_keys(negative, self.seed_generator), self.rois_per_image - self.positive_slots
        )
        index = ops.concatenate([pos_index, neg_index], axis=1)
        is_positive = ops.concatenate([pos_score > 0, ops.zeros_like(neg_score, "bool")], axis=1)
        valid = ops.cast(ops.concatenate([pos_score > 0, neg_score > 0], axis=1), "float32")

        rois = _gather_rows(candidates, index) * valid[..., None]
        matched = ops.take_along_axis(best_gt, index, axis=1)
        matched_boxes = _gather_rows(gt_boxes, matched)
        class_ids = ops.where(is_positive, ops.take_along_axis(gt_class_ids, matched, axis=1), 0)
        deltas = box_ops.encode(rois, matched_boxes, self.std_dev) * ops.cast(is_positive, "float32")[..., None]
        masks = self._mask_targets(
            rois[:, : self.positive_slots],
            matched[:, : self.positive_slots],
            matched_boxes[:, : self.positive_slots],
            gt_masks,
        )
        return rois, ops.cast(class_ids, "int32"), deltas, masks, valid

    def _mask_targets(self, rois, matched, matched_boxes, gt_masks):
        """Crop each positive ROI out of its ground-truth mask: [b, P, *mask_shape] in {0, 1}."""
        shape = ops.shape(gt_masks)
        count, height, width = shape[1], shape[2], shape[3]
        if self.use_mini_mask:
            frame = matched_boxes
        else:
            frame = ops.broadcast_to(ops.convert_to_tensor([0.0, 0.0, 1.0, 1.0]), ops.shape(matched_boxes))
        frame_size = ops.maximum(ops.concatenate([frame[..., 2:] - frame[..., :2]] * 2, axis=-1), 1e-6)
        scale = ops.cast(ops.stack([height, width, height, width]), "float32")
        local = (rois - ops.concatenate([frame[..., :2]] * 2, axis=-1)) / frame_size * scale
        batch = ops.shape(rois)[0]
        base = (ops.arange(batch)[:, None] * count + ops.cast(matched, "int32")) * (height * width)
        table = ops.reshape(ops.cast(gt_masks, "float32"), (-1, 1))
        rows = ops.broadcast_to(height, ops.shape(base))
        cols = ops.broadcast_to(width, ops.shape(base))
        crops = bilinear_crop(table, base, rows, cols, local, self.mask_shape)[..., 0]
        return ops.stop_gradient(ops.cast(crops >= 0.5, "float32"))

    def get_config(self):
        return {
            **super().get_config(),
            "rois_per_image": self.rois_per_image,
            "positive_ratio": self.positive_ratio,
            "mask_shape": self.mask_shape,
            "use_mini_mask": self.use_mini_mask,
            "std_dev": self.std_dev,
            "seed": self.seed,
        }
