"""The only module that imports TensorFlow: non-max suppression, which keras.ops lacks.

Everything else in mrcnn uses keras.ops, so this file is the whole port surface for another backend.
"""

import tensorflow as tf


def batched_nms(boxes, scores, max_output, iou_threshold, score_threshold=float("-inf")):
    """Per-image NMS, padded to a fixed count; kept boxes come best first.

    boxes: [batch, N, (y1, x1, y2, x2)]; scores: [batch, N]; only boxes scoring strictly
    above `score_threshold` are kept. Compiles under XLA on CPU.
    Returns indices [batch, max_output] int32 into N (padding repeats index 0) and
    valid [batch, max_output] bool.
    """

    def one_image(args):
        image_boxes, image_scores = args
        keep = tf.image.non_max_suppression(
            image_boxes, image_scores, max_output, iou_threshold, score_threshold=score_threshold
        )
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
