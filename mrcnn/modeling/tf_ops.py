"""The only module that imports TensorFlow: non-max suppression, which keras.ops lacks, and tf.identity on
Keras inputs for matterport's notebooks.

Everything else in mrcnn uses keras.ops, so this file is the whole port surface for another backend.
"""

import keras
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


class _IdentityOnKerasTensors(tf.__internal__.dispatch.OpDispatcher):
    """`tf.identity(keras_tensor)` returns the KerasTensor itself instead of Keras 3's ValueError.

    matterport's inspect notebooks pass `tf.identity(model.keras_model.get_layer("input_image").output)` to
    run_graph (TF1 graphs took it); the tensor itself is what run_graph needs. TF calls this only after
    tf.identity has refused its argument, so real tensors never reach it.
    """

    def handle(self, args, kwargs):
        value = args[0] if args else kwargs.get("input")
        return value if isinstance(value, keras.KerasTensor) else self.NOT_SUPPORTED


def pass_keras_tensors_through_identity():
    """Register _IdentityOnKerasTensors on tf.identity (mrcnn.inference.graph_probe does, once, at its import)."""
    _IdentityOnKerasTensors().register(tf.identity)
