"""Weights files in the legacy Keras HDF5 layout, read and written by layer name.

Layout (as Keras 2 and matterport wrote it, and as keras.applications ImageNet files are):
root attribute `layer_names`; one group per layer with attribute `weight_names`; one dataset per
weight. Keras 3's own `save_weights` only writes `.weights.h5` and its `load_weights(by_name=True)`
only reads this legacy layout, so mrcnn reads and writes it itself. The same reader serves our
checkpoints, keras.applications ImageNet files and matterport's files (`exclude=`, name maps).
mrcnn adds root attributes `mrcnn_config` (JSON) and `class_names` (JSON).
"""

import json
from pathlib import Path

import h5py
import keras
import numpy as np

from mrcnn.config import STORED_DEFAULTS
from mrcnn.engine.atomic import atomic_path
from mrcnn.weights.channels import adapted_arrays
from mrcnn.weights.errors import WeightsFileError


def weight_layers(model):
    """Every layer that owns weights, with nested models flattened: {name: layer}."""
    found = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found.update(weight_layers(layer))
        elif layer.weights:
            found[layer.name] = layer
    return found


def _text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def save(model, path, metadata=None):
    """Write every weight layer of `model` to `path` (atomically: temp file, then rename)."""
    with atomic_path(path) as temp:
        with h5py.File(temp, "w") as f:
            layers = weight_layers(model)
            f.attrs["layer_names"] = np.array([name.encode("utf8") for name in layers])
            f.attrs["backend"] = keras.backend.backend().encode("utf8")
            f.attrs["keras_version"] = keras.__version__.encode("utf8")
            for key, value in (metadata or {}).items():
                f.attrs[key] = json.dumps(value)
            for name, layer in layers.items():
                group = f.create_group(name)
                names = [f"{name}/{w.path.split('/')[-1]}:{i}" for i, w in enumerate(layer.weights)]
                group.attrs["weight_names"] = np.array([n.encode("utf8") for n in names])
                for weight_name, weight in zip(names, layer.weights):
                    group.create_dataset(weight_name, data=keras.ops.convert_to_numpy(weight))


class LegacyH5Weights:
    """Keras model mixin: `save_weights("x.h5")` writes this module's layout, as matterport's keras_model did.

    Keras 3 only writes `.weights.h5` (those paths, and any other suffix, go to Keras). The file holds the
    weights only; MaskRCNN.save_weights also stores the config and class names.
    """

    def save_weights(self, filepath, overwrite=True, **kwargs):
        path = str(filepath)
        if path.endswith((".weights.h5", ".weights.json")) or not path.endswith((".h5", ".hdf5")):
            return super().save_weights(filepath, overwrite=overwrite, **kwargs)
        if not overwrite and Path(path).exists():
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        save(self, path)


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise WeightsFileError(f"Weights file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise WeightsFileError(f"Cannot read weights file {path}: not a valid HDF5 file ({err})") from None


def read_metadata(path):
    """mrcnn metadata stored in a weights file: {"config": dict or None, "class_names": list or None}."""
    with _open(path) as f:
        metadata = {}
        for key, attr, kind in (("config", "mrcnn_config", dict), ("class_names", "class_names", list)):
            try:
                value = json.loads(_text(f.attrs[attr])) if attr in f.attrs else None
            except (ValueError, TypeError, OSError, KeyError) as err:
                raise WeightsFileError(
                    f"{path}: the stored {attr} is damaged ({err}); re-save or re-download the file"
                ) from None
            if value is not None and not isinstance(value, kind):
                raise WeightsFileError(f"{path}: the stored {attr} is damaged (not a JSON {kind.__name__})")
            metadata[key] = value
        return metadata


def _file_layers(f):
    """{layer name: [arrays in stored order]} of a legacy-layout file."""
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" not in root.attrs:
        raise WeightsFileError(
            f"{f.filename} is not in the legacy layer-name layout (no 'layer_names'); "
            "a Keras 3 '.weights.h5' file loads with by_name=False"
        )
    layers = {}
    for name in (_text(n) for n in root.attrs["layer_names"]):
        try:
            group = root[name]
            weight_names = [_text(n) for n in group.attrs.get("weight_names", [])]
            if weight_names:
                layers[name] = [np.asarray(group[w]) for w in weight_names]
        except (KeyError, OSError, ValueError, TypeError) as err:
            raise WeightsFileError(
                f"{f.filename} is damaged: layer {name!r} lists weights it does not hold ({err}); "
                "re-save or re-download the file"
            ) from None
    return layers


# Config keys that change what a trained network computes: a weights file used with other values
# gives other (usually worse) detections, so loading warns about each one.
RESULT_KEYS = (
    "BACKBONE",
    "BACKBONE_OPTIONS",
    "BACKBONE_STRIDES",
    "NUM_CLASSES",
    "IMAGE_RESIZE_MODE",
    "IMAGE_MIN_DIM",
    "IMAGE_MAX_DIM",
    "IMAGE_MIN_SCALE",
    "IMAGE_CHANNEL_COUNT",
    "MEAN_PIXEL",
    "RPN_ANCHOR_SCALES",
    "RPN_ANCHOR_RATIOS",
    "RPN_ANCHOR_OCTAVES",
    "RPN_ANCHOR_STRIDE",
    "RPN_ANCHOR_OFFSET",
    "RESNET_STEM",
    "ROI_ALIGN",
    "BOX_NORMALIZATION",
    "TOP_DOWN_PYRAMID_SIZE",
    "RPN_CONV_CHANNELS",
    "PYRAMID_CONV",
    "FPN_CLASSIF_FC_LAYERS_SIZE",
    "MASK_HEAD_CHANNELS",
    "MASK_HEAD_CONVS",
    "POOL_SIZE",
    "MASK_POOL_SIZE",
    "RPN_BBOX_STD_DEV",
    "BBOX_STD_DEV",
)
WIDTH_KEYS = (
    "BACKBONE",
    "BACKBONE_OPTIONS",
    "TOP_DOWN_PYRAMID_SIZE",
    "RPN_CONV_CHANNELS",
    "PYRAMID_CONV",
    "FPN_CLASSIF_FC_LAYERS_SIZE",
    "MASK_HEAD_CHANNELS",
    "MASK_HEAD_CONVS",
    "NUM_CLASSES",
)


def _comparable(value):
    """A JSON-normal form, so that tuples, lists and numpy arrays of the same numbers compare equal."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))


def config_differences(stored, current, keys=RESULT_KEYS):
    """[(key, stored value, current value)] for the `keys` on which two config dicts disagree.

    stored: the config dict kept in a weights file (None: nothing to compare); current: the model's
    `Config.to_dict()`. Keys missing from the stored dict (older files) are not compared, except those in
    STORED_DEFAULTS (the value such files were computed with).
    """
    older = {key: value for key, value in STORED_DEFAULTS.items() if key in current}
    stored = {**older, **stored} if stored else {}
    return [
        (key, stored[key], current.get(key))
        for key in keys
        if key in stored and _comparable(stored[key]) != _comparable(current.get(key))
    ]


def describe_differences(path, differences):
    """One warning text naming each disagreeing key, its stored and current value, and the fix."""
    items = "; ".join(f"{key} file={stored!r} model={_comparable(current)!r}" for key, stored, current in differences)
    return (
        f"{path} was trained with another config than this model's ({items}). Detections will differ from "
        f"the file's own results: build the model with MaskRCNN.from_weights({str(path)!r}), or set these "
        "values in your Config."
    )


def _mismatch_hint(path):
    """How to fix a shape mismatch: the widths the file was built with, or (no config stored) the heads hint."""
    heads = "exclude=['mrcnn_class_logits', 'mrcnn_bbox_fc', 'mrcnn_bbox', 'mrcnn_mask']"
    stored = read_metadata(path)["config"]
    if not stored:
        return f"\nIf only the class count differs, pass by_name=True, {heads}."
    built = ", ".join(f"{key}={stored[key]!r}" for key in WIDTH_KEYS if key in stored)
    return (
        f"\nThe file was built with {built}: build the model with MaskRCNN.from_weights({str(path)!r}) or use "
        f"these values in your Config (to fine-tune on other classes, also pass by_name=True, {heads})."
    )


def load(model, path, exclude=(), name_map=None, strict=False):
    """Assign weights to the model's layers whose names appear in the file.

    exclude: layer names to leave untouched; name_map: {file layer name: model layer name} for
    files written with other names (e.g. matterport's ResNet). A shape mismatch raises
    WeightsFileError listing every mismatched layer (e.g. a class-count change: exclude the heads).
    strict=True also raises when model layers find nothing in the file.
    Returns {"loaded": [...], "missing": model layers not in the file, "unused": file layers not in the model}.
    """
    exclude = set(exclude or ())
    name_map = name_map or {}
    targets = {k: v for k, v in weight_layers(model).items() if k not in exclude}
    with _open(path) as f:
        stored = {name_map.get(k, k): v for k, v in _file_layers(f).items()}
    problems, assignments, adapted = [], [], []
    for name, arrays in stored.items():
        layer = targets.get(name)
        if layer is None:
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        found = [a.shape for a in arrays]
        if expected != found and (changed := adapted_arrays(arrays, expected)) is not None:
            arrays, found = changed, expected  # an RGB first conv for another IMAGE_CHANNEL_COUNT
            adapted.append(name)
        if expected != found:
            problems.append(f"  {name}: model {expected} vs file {found}")
        else:
            assignments.append((layer, arrays))
    if problems:
        raise WeightsFileError(
            f"{path}: {len(problems)} layer(s) have different shapes than the model:\n"
            + "\n".join(problems)
            + _mismatch_hint(path)
        )
    for layer, arrays in assignments:
        layer.set_weights(arrays)
    report = {
        "loaded": sorted(layer.name for layer, _ in assignments),
        "missing": sorted(set(targets) - set(stored)),
        "unused": sorted(set(stored) - set(targets) - exclude),
        "adapted": sorted(adapted),  # RGB kernels adapted to the model's channel count (mrcnn.weights.channels)
    }
    if strict and report["missing"]:
        raise WeightsFileError(f"{path} has no weights for model layers: {', '.join(report['missing'])}")
    if not report["loaded"]:
        raise WeightsFileError(f"{path}: no layer name matches the model; file layers start with {sorted(stored)[:5]}")
    return report
