"""matterport's `run_graph` / `ancestor` on a Keras 3 graph, for its inspect notebooks.

Outputs are layer outputs (or layer names) of the inference graph, evaluated by a probe model. Three are
rewritten to matterport's layouts: `mrcnn_mask` (here 1x1-conv logits of the merged ROIs) gives sigmoid
masks [b, D, h, w, classes] with D = DETECTION_MAX_INSTANCES (slots past the kept detections are zero),
`mrcnn_bbox` gives deltas [b, R, classes, 4], and `input_image` (raw pixels here) gives matterport's
input, MEAN_PIXEL subtracted (mold_image), so that unmold_image shows the image.

The proposal stages matterport read as TF1 tensors ("ROI/pre_nms_anchors", "ROI/refined_anchors",
"ROI/refined_anchors_clipped", "ROI/rpn_non_max_suppression") are not tensors of a Keras 3 graph:
`ancestor` returns a `ProposalStage`, and `run_graph` recomputes it with the ProposalLayer's own ops
(ProposalLayer.stages) from the layer's inputs, in the same pass.

`tf.identity(model.keras_model.get_layer("input_image").output)` (the notebooks' first activation): Keras 3
refuses TF functions on symbolic tensors, so importing this module lets tf.identity return a KerasTensor
unchanged (mrcnn.modeling.tf_ops), and run_graph sees the layer output itself.
"""

import collections

import keras
import numpy as np
from keras import ops

from mrcnn.inference.mold import mold_image
from mrcnn.modeling import tf_ops

PROPOSAL_LAYER = "ROI"
PROPOSAL_STAGES = ("pre_nms_anchors", "refined_anchors", "refined_anchors_clipped", "rpn_non_max_suppression")
# matterport's head layer → our layer holding its values per image ([b, R, ...]), and the step to its layout.
HEAD_VIEWS = {"mrcnn_mask": ("mrcnn_mask_split", "sigmoid"), "mrcnn_bbox": ("mrcnn_bbox_split", None)}
tf_ops.pass_keras_tensors_through_identity()


class ProposalStage:
    """A named step inside the ProposalLayer (see ProposalLayer.stages); `run_graph` evaluates it."""

    def __init__(self, stage):
        self.stage = stage

    def __repr__(self):
        return f"ProposalStage({self.stage!r})"


def ancestor(keras_model, name):
    """The output for a matterport tensor name ("rpn_class:0", "ROI/pre_nms_anchors:0", ...), or None as there.

    "ROI/rpn_non_max_suppression/NonMaxSuppressionV2:0" (the notebook's fallback names) is the NMS stage too.
    """
    layer_name, _, inner = name.split(":")[0].partition("/")
    stage = inner.split("/")[0]
    if layer_name == PROPOSAL_LAYER and stage in PROPOSAL_STAGES:
        return ProposalStage(stage)
    if inner:
        return None
    try:
        return keras_model.get_layer(layer_name).output
    except ValueError:
        return None


def run_graph(keras_model, molded_images, outputs, config, inference=True):
    """OrderedDict {name: numpy array} of `outputs` ((name, tensor, layer name or ProposalStage) pairs).

    molded_images: the model's input batch; inference: pad mrcnn_mask to DETECTION_MAX_INSTANCES.
    """
    views = {id(keras_model.get_layer(name).output): view for name, view in HEAD_VIEWS.items()}
    views[id(keras_model.inputs[0])] = (None, "mold")
    sources, finishers = [], []
    for name, tensor in outputs:
        if isinstance(tensor, str):
            found = ancestor(keras_model, tensor)
            tensor = tensor if found is None else found
        if isinstance(tensor, ProposalStage):
            finishers.append(("stage", tensor.stage))
            continue
        if tensor is None or isinstance(tensor, str):
            raise ValueError(f"run_graph: output {name!r} is {tensor!r}, not a layer output of this model")
        source, step = views.get(id(tensor), (None, None))
        sources.append(keras_model.get_layer(source).output if source else tensor)
        finishers.append(("tensor", (len(sources) - 1, step)))
    needs_stages = any(kind == "stage" for kind, _ in finishers)
    proposal_inputs = list(keras_model.get_layer(PROPOSAL_LAYER).input) if needs_stages else []
    values = _predict(keras_model, sources + proposal_inputs, molded_images)
    stages = _proposal_stages(keras_model, values[len(sources) :]) if needs_stages else {}
    results = collections.OrderedDict()
    for (name, _), (kind, what) in zip(outputs, finishers):
        if kind == "stage":
            results[name] = stages[what]
        else:
            index, step = what
            results[name] = _layout(values[index], step, config, inference)
    return results


def _predict(keras_model, tensors, molded_images):
    values = keras.Model(keras_model.inputs, tensors).predict_on_batch(molded_images)
    return [np.asarray(v) for v in (values if isinstance(values, (list, tuple)) else [values])]


def _layout(value, step, config, inference):
    if step == "mold":
        return mold_image(value, config)
    if step != "sigmoid":
        return value
    masks = ops.convert_to_numpy(ops.sigmoid(value))
    missing = config.DETECTION_MAX_INSTANCES - masks.shape[1]
    if inference and missing > 0:
        masks = np.pad(masks, [(0, 0), (0, missing)] + [(0, 0)] * (masks.ndim - 2))
    return masks


def _proposal_stages(keras_model, inputs):
    """ProposalLayer.stages on the layer's inputs; the NMS stage as matterport's tensor: image 0's kept indices."""
    stages = keras_model.get_layer(PROPOSAL_LAYER).stages(*(ops.convert_to_tensor(v) for v in inputs))
    stages = {key: ops.convert_to_numpy(value) for key, value in stages.items()}
    stages["rpn_non_max_suppression"] = stages["rpn_non_max_suppression"][0][stages["valid"][0]]
    return stages
