"""The only module that imports TensorFlow: non-max suppression, which keras.ops lacks.

Everything else in mrcnn uses keras.ops, so this file is the whole port surface for another backend.
"""
import tensorflow as tf


def batched_nms(boxes, scores, max_output, iou_threshold):
    """Per-image NMS, padded to a fixed count.

    boxes: [batch, N, (y1, x1, y2, x2)]; scores: [batch, N].
    Returns indices [batch, max_output] int32 into N (padding repeats index 0) and
    valid [batch, max_output] bool.
    """

    def one_image(args):
        image_boxes, image_scores = args
        keep = tf.image.non_max_suppression(image_boxes, image_scores, max_output, iou_threshold)
        count = tf.shape(keep)[0]
        pad = max_output - count
        keep = tf.pad(keep, [[0, pad]])
        valid = tf.range(max_output) < count
        return keep, valid

    return tf.map_fn(
        one_image,
        (boxes, scores),
        fn_output_signature=(tf.TensorSpec([max_output], tf.int32), tf.TensorSpec([max_output], tf.bool)),
    )


def per_class_nms(boxes, scores, max_total, iou_threshold, score_threshold):
    """Class-wise NMS over every image of a batch, keeping the best `max_total` overall.

    boxes: [batch, N, classes, (y1, x1, y2, x2)] class-specific boxes; scores: [batch, N, classes].
    Returns boxes [batch, max_total, 4], scores [batch, max_total], classes [batch, max_total]
    (0-based index into the `classes` axis) and count [batch] int32. Padding slots are zero.
    """
    out_boxes, out_scores, out_classes, count = tf.image.combined_non_max_suppression(
        boxes,
        scores,
        max_output_size_per_class=max_total,
        max_total_size=max_total,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
        clip_boxes=False,
    )
    return out_boxes, out_scores, out_classes, count
