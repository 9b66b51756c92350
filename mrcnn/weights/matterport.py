"""matterport/Mask_RCNN weight files (e.g. its mask_rcnn_coco.h5) loaded into mrcnn models.

matterport's files use the legacy Keras HDF5 layout (see weights_io) with its own names:
- ResNet-50/101: `conv1`/`bn_conv1` and `res{stage}{block}_branch{2a,2b,2c,1}` /
  `bn{stage}{block}_branch...`, blocks lettered a, b, c, ... These map to keras.applications'
  `conv1_conv`/`conv1_bn` and `conv{stage}_block{n}_{1,2,3,0}_{conv,bn}` (n = letter index + 1;
  branch1, the projection shortcut, is keras' `_0_`).
- The RPN is one nested-model group `rpn_model` holding rpn_conv_shared, rpn_class_raw and
  rpn_bbox_pred; it is split by the weights' layer prefixes.
- FPN and head layers already share matterport's names. matterport's heads have a BatchNorm after
  each conv (mrcnn_class_bn1/2, mrcnn_mask_bn1..4), ours do not: with frozen BN (matterport's
  default) conv + BN is one affine map, so each BN is folded into the conv before it.
- matterport feeds RGB minus the mean pixel; our ResNet input is BGR (caffe), so conv1's input
  channels are reversed when the model's normalisation layer is BGR.
"""

import os
import tempfile

import h5py
import keras
import numpy as np

from mrcnn.backbones import PixelNormalization
from mrcnn.weights import h5 as weights_io

MARKERS = ("res2a_branch2a", "rpn_model")  # layer names only a matterport file has
BRANCHES = {"2a": "1", "2b": "2", "2c": "3", "1": "0"}
STAGE_BLOCKS = {2: 3, 3: 4, 4: 23, 5: 3}  # ResNet-101; ResNet-50 uses the first 6 blocks of stage 4
ANCHOR_OFFSET = 0.0  # matterport's anchor centres: i * stride (Config.RPN_ANCHOR_OFFSET)
# Config values that make an mrcnn model compute what matterport's code computes with the same weights
# (bench/parity.py measures it): Config(**CONVENTIONS, ...) or set them in a Config subclass.
CONVENTIONS = {
    "RPN_ANCHOR_OFFSET": ANCHOR_OFFSET,
    "BOX_NORMALIZATION": "matterport",
    "RESNET_STEM": "matterport",
    "ROI_ALIGN": "matterport",
    "DETECTION_PER_CLASS": False,
}
# The layer whose loading makes each convention matter.
CONVENTION_LAYERS = {
    "RPN_ANCHOR_OFFSET": "rpn_bbox_pred",
    "BOX_NORMALIZATION": "rpn_bbox_pred",
    "RESNET_STEM": "conv1_conv",
    "ROI_ALIGN": "mrcnn_class_conv1",
}
MATTERPORT_BN_EPSILON = 1e-3  # Keras' BatchNormalization default, which matterport's BatchNorm keeps
# matterport head BN → the conv it follows.
HEAD_BN = {f"mrcnn_class_bn{i}": f"mrcnn_class_conv{i}" for i in (1, 2)}
HEAD_BN.update({f"mrcnn_mask_bn{i}": f"mrcnn_mask_conv{i}" for i in (1, 2, 3, 4)})


def resnet_name_map():
    """{matterport layer name: keras.applications layer name} for ResNet-50 and ResNet-101."""
    names = {"conv1": "conv1_conv", "bn_conv1": "conv1_bn"}
    for stage, blocks in STAGE_BLOCKS.items():
        for index in range(blocks):
            letter = chr(ord("a") + index)
            for branch, number in BRANCHES.items():
                names[f"res{stage}{letter}_branch{branch}"] = f"conv{stage}_block{index + 1}_{number}_conv"
                names[f"bn{stage}{letter}_branch{branch}"] = f"conv{stage}_block{index + 1}_{number}_bn"
    return names


def _root(f):
    return f["model_weights"] if "model_weights" in f else f


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def is_matterport_file(path):
    """True for a legacy-layout .h5 holding matterport's layer names (e.g. res2a_branch2a)."""
    try:
        with h5py.File(path, "r") as f:
            names = {_text(n) for n in _root(f).attrs.get("layer_names", [])}
    except (OSError, TypeError, ValueError):
        return False
    return any(marker in names for marker in MARKERS)


def read_layers(path):
    """{layer name: [(weight name, array), ...]} in stored order."""
    with h5py.File(path, "r") as f:
        root = _root(f)
        layers = {}
        for name in (_text(n) for n in root.attrs["layer_names"]):
            weight_names = [_text(w) for w in root[name].attrs.get("weight_names", [])]
            if weight_names:
                layers[name] = [(w, np.asarray(root[name][w])) for w in weight_names]
        return layers


def _owner(weight_name):
    """Layer that owns a weight: 'rpn_model/rpn_conv_shared/kernel:0' → 'rpn_conv_shared'."""
    parts = weight_name.split("/")
    return parts[-2] if len(parts) > 1 else ""


def split_nested(layers):
    """Split groups that hold several layers' weights (matterport's rpn_model) into one group per layer."""
    result = {}
    for name, weights in layers.items():
        owners = list(dict.fromkeys(_owner(w) for w, _ in weights))
        if len(owners) < 2 or "" in owners:
            result[name] = weights
            continue
        for owner in owners:
            result[owner] = [(w, a) for w, a in weights if _owner(w) == owner]
    return result


def fold_batch_norm(kernel, bias, gamma, beta, mean, variance, epsilon=MATTERPORT_BN_EPSILON):
    """Conv (kernel [..., out], bias [out]) followed by frozen BN → one conv: (kernel, bias)."""
    scale = gamma / np.sqrt(variance + epsilon)
    return (kernel * scale).astype(kernel.dtype), ((bias - mean) * scale + beta).astype(bias.dtype)


def fold_head_batch_norms(layers):
    """Fold mrcnn_class_bn*/mrcnn_mask_bn* into their convs. Returns (layers, folded BN names)."""
    layers = dict(layers)
    folded = []
    for bn_name, conv_name in HEAD_BN.items():
        if bn_name not in layers or conv_name not in layers or len(layers[conv_name]) != 2:
            continue
        (kernel_name, kernel), (bias_name, bias) = layers[conv_name]
        kernel, bias = fold_batch_norm(kernel, bias, *(a for _, a in layers.pop(bn_name)))
        layers[conv_name] = [(kernel_name, kernel), (bias_name, bias)]
        folded.append(bn_name)
    return layers, folded


def _match_bn_epsilon(layers, name_map, model_layers):
    """Shift moving variances so var + epsilon is matterport's for BN layers with another epsilon.

    keras.applications' ResNet uses epsilon 1.001e-5 where matterport used 1e-3.
    """
    result = dict(layers)
    for name, weights in layers.items():
        target = model_layers.get(name_map.get(name, name))
        if not isinstance(target, keras.layers.BatchNormalization) or len(weights) != 4:
            continue
        shift = MATTERPORT_BN_EPSILON - target.epsilon
        (variance_name, variance) = weights[3]
        result[name] = weights[:3] + [(variance_name, (variance + shift).astype(variance.dtype))]
    return result


def _input_is_bgr(model):
    stack = list(model.layers)
    while stack:
        layer = stack.pop()
        if isinstance(layer, keras.Model):
            stack.extend(layer.layers)
        elif isinstance(layer, PixelNormalization) and layer.channel_order == "bgr":
            return True
    return False


def _write(layers, path):
    """Write {name: [(weight name, array)]} in the legacy layout."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n in layers])
        for name, weights in layers.items():
            group = f.create_group(name)
            names = [f"{name}/{w.split('/')[-1]}" for w, _ in weights]
            group.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
            for weight_name, (_, array) in zip(names, weights):
                group.create_dataset(weight_name, data=array)


def load(model, path, exclude=(), strict=False):
    """Load a matterport weights file into `model` (a Keras model built by mrcnn.modeling.graph).

    exclude: layer names (ours or matterport's) to leave untouched. Returns weights_io.load's
    report ({"loaded", "missing", "unused"}) plus "folded": the head BN layers folded into convs.
    Layers in the file that the model lacks (e.g. ResNet-101 blocks in a ResNet-50 model) are
    listed under "unused"; a shape mismatch raises WeightsFileError listing the layers.
    """
    name_map = resnet_name_map()
    exclude = {name_map.get(name, name) for name in exclude or ()}
    layers, folded = fold_head_batch_norms(split_nested(read_layers(path)))
    if "conv1" in layers and _input_is_bgr(model):
        (kernel_name, kernel), *rest = layers["conv1"]
        layers["conv1"] = [(kernel_name, kernel[:, :, ::-1, :])] + rest
    layers = _match_bn_epsilon(layers, name_map, weights_io.weight_layers(model))
    handle, temp = tempfile.mkstemp(suffix=".h5")
    os.close(handle)
    try:
        _write(layers, temp)
        try:
            report = weights_io.load(model, temp, exclude=exclude, name_map=name_map, strict=strict)
        except weights_io.WeightsFileError as err:
            raise weights_io.WeightsFileError(str(err).replace(temp, str(path))) from None
    finally:
        os.remove(temp)
    report["folded"] = folded
    return report
