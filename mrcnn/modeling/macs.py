"""Multiply-accumulates (MACs) counted from a Keras graph: per layer, and per part of a Mask R-CNN model.

One MAC is one weight times one input added to a sum. Counted: Conv1D/2D/3D (with groups), DepthwiseConv1D/2D,
SeparableConv1D/2D, Conv1D/2D/3DTranspose and Dense, also inside TimeDistributed. Not counted (zero): biases,
BatchNorm, activations, pooling, upsampling, adds, ROIAlign, NMS; they are memory-bound, not MAC-bound.

    from mrcnn.modeling.macs import mask_rcnn_macs
    counts = mask_rcnn_macs(model)  # an inference MaskRCNN
    counts["body"], counts["fpn_rpn"], counts["heads"], counts["total"]
"""

import math

import keras

from mrcnn.modeling.roi_align import PyramidROIAlign

SECTIONS = ("body", "fpn_rpn", "heads")
_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
_SEPARABLE = (keras.layers.SeparableConv1D, keras.layers.SeparableConv2D)
_TRANSPOSED = (keras.layers.Conv1DTranspose, keras.layers.Conv2DTranspose, keras.layers.Conv3DTranspose)


def _split(layer, shape):
    """(batch * spatial positions, channels) of a conv layer's input or output shape."""
    shape = tuple(shape)
    if None in shape:
        raise ValueError(f"layer {layer.name!r}: cannot count MACs on a shape with unknown sizes {shape}")
    if getattr(layer, "data_format", "channels_last") == "channels_first":
        return shape[0] * math.prod(shape[2:]), shape[1]
    return math.prod(shape[:-1]), shape[-1]


def layer_macs(layer, input_shape, output_shape):
    """MACs of one call of `layer` on `input_shape` giving `output_shape` (both with the batch axis, all known)."""
    if isinstance(layer, keras.layers.TimeDistributed):
        merge = lambda shape: (shape[0] * shape[1],) + tuple(shape[2:])  # noqa: E731
        return layer_macs(layer.layer, merge(input_shape), merge(output_shape))
    if isinstance(layer, keras.layers.Dense):
        return _split(layer, output_shape)[0] * input_shape[-1] * layer.units
    if not isinstance(layer, _CONVS + _DEPTHWISE + _SEPARABLE + _TRANSPOSED):
        return 0
    kernel = math.prod(layer.kernel_size)
    inputs, in_channels = _split(layer, input_shape)
    outputs, out_channels = _split(layer, output_shape)
    if isinstance(layer, _TRANSPOSED):  # Every input position spreads its kernel over every output channel.
        return inputs * in_channels * kernel * out_channels
    if isinstance(layer, _DEPTHWISE):
        return outputs * out_channels * kernel
    if isinstance(layer, _SEPARABLE):
        inner = in_channels * layer.depth_multiplier
        return outputs * inner * kernel + outputs * inner * out_channels
    return outputs * out_channels * kernel * in_channels // layer.groups


def _shape(tensor):
    return tuple(tensor.shape)


def trace_macs(model, inputs, on_call):
    """Run `model`'s graph symbolically on `inputs` (KerasTensors), calling on_call(layer, args, outputs, path).

    Nested functional models are entered (path: their names, outermost first), so a layer called several
    times (a shared RPN head) is reported once per call with that call's shapes. on_call may return
    replacement outputs (e.g. to give an unknown size a stated value), else None.
    """

    def wrap(path):
        def operation_fn(op):
            if isinstance(op, keras.Model) and hasattr(op, "_run_through_graph"):
                return lambda *args, **kwargs: op._run_through_graph(args, operation_fn=wrap(path + (op.name,)))

            def call(*args, **kwargs):
                outputs = op.compute_output_spec(*args, **kwargs)
                replaced = on_call(op, args, outputs, path)
                return outputs if replaced is None else replaced

            return call

        return operation_fn

    if not hasattr(model, "_run_through_graph"):
        raise TypeError(f"{model.name!r} is not a functional Keras model; MACs are counted from its graph")
    return model._run_through_graph(inputs, operation_fn=wrap((model.name,)))


def _batch_one(model):
    """KerasTensors like `model`'s inputs with batch 1; every other size must be known."""
    shapes = [_shape(t) for t in model.inputs]
    if any(None in shape[1:] for shape in shapes):
        raise ValueError(
            f"{model.name!r} has inputs {shapes} with unknown sizes; MACs need a fixed input size "
            "(for a MaskRCNN: IMAGE_RESIZE_MODE 'square')"
        )
    return [keras.KerasTensor((1,) + shape[1:], t.dtype) for shape, t in zip(shapes, model.inputs)]


def _input_shape(args):
    """Shape of the first tensor among a layer call's arguments, or None."""
    tensors = [t for t in keras.tree.flatten(args) if isinstance(t, keras.KerasTensor)]
    return _shape(tensors[0]) if tensors else None


def _count(model, classify):
    """{(section, layer path): MACs} at batch 1; classify(layer, args, outputs, path) -> (section, outputs)."""
    counts, kept = {}, []  # kept: every traced output stays alive, so classify may key tensors by id().

    def on_call(layer, args, outputs, path):
        section, outputs = classify(layer, args, outputs, path)
        kept.append(outputs)
        shape = _input_shape(args)
        single = isinstance(outputs, keras.KerasTensor)  # Every counted layer has one output.
        macs = layer_macs(layer, shape, _shape(outputs)) if shape and single else 0
        if macs:
            key = (section, "/".join(path[1:] + (layer.name,)))
            counts[key] = counts.get(key, 0) + macs
        return outputs

    trace_macs(model, _batch_one(model), on_call)
    return counts


def model_macs(model):
    """{layer path: MACs} of a functional model at its input size, batch 1 (path: nested model names / layer).

    Layers without MACs are left out; a layer called several times is summed over its calls.
    """
    counts = _count(model, lambda layer, args, outputs, path: (None, outputs))
    return {name: macs for (_, name), macs in counts.items()}


def mask_rcnn_macs(model):
    """MACs per image of an inference MaskRCNN at its input size, split into body / FPN+RPN / heads.

    body: the backbone (C2..C5). fpn_rpn: FPN, the RPN head on P2..P6 (anchors, proposals: 0). heads:
    everything after a PyramidROIAlign. The heads are counted for a stated number of ROIs, not for what one
    image happens to keep: the box head for the POST_NMS_ROIS_INFERENCE proposals (the graph always runs it
    on that many) and the mask head for DETECTION_MAX_INSTANCES detections (the most it can run on; an image
    with fewer detections costs less). Batch 1, forward pass only. A training MaskRCNN is counted the same way,
    its heads at TRAIN_ROIS_PER_IMAGE ROIs and its mask head at the positive ROI slots (the backward pass is
    not included: about twice the forward).

    Returns {"image_shape", "rois": {roi_align layer: ROIs}, "body", "fpn_rpn", "heads", "total",
    "layers": [{"name", "section", "macs"}]} (a layer called several times is summed over its calls).
    """
    keras_model, body, config = model.keras_model, model.backbone.model.name, model.config
    heads_tensors, rois = set(), {}

    def classify(layer, args, outputs, path):
        heads = isinstance(layer, PyramidROIAlign) or any(id(t) in heads_tensors for t in keras.tree.flatten(args))
        if isinstance(layer, PyramidROIAlign):  # [1, R, pool, pool, C]; R unknown for the kept detections.
            rois[layer.name] = outputs.shape[1] or config.DETECTION_MAX_INSTANCES
            outputs = keras.KerasTensor((1, rois[layer.name]) + _shape(outputs)[2:], outputs.dtype)
        if heads:
            heads_tensors.update(id(t) for t in keras.tree.flatten(outputs))
        return ("body" if body in path else "heads" if heads else "fpn_rpn"), outputs

    counts = _count(keras_model, classify)
    totals = {section: sum(n for (s, _), n in counts.items() if s == section) for section in SECTIONS}
    return {
        "image_shape": [int(size) for size in config.IMAGE_SHAPE[:2]],
        "rois": rois,
        **totals,
        "total": sum(totals.values()),
        "layers": [{"name": name, "section": section, "macs": n} for (section, name), n in counts.items()],
    }
