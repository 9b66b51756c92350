"""Export an inference MaskRCNN for serving without mrcnn: a SavedModel, and TFLite / ONNX from it.

The SavedModel's endpoint `serve` (also its `serving_default` signature) takes ONE uint8 RGB
image [H, W, 3] of any size and returns, in original-image pixels (as `MaskRCNN.detect()`):
  rois      int32   [N, (y1, x1, y2, x2)], y2/x2 exclusive
  class_ids int32   [N]
  scores    float32 [N]
  masks     uint8   [N, H, W], 1 inside the instance
With IMAGE_CHANNEL_COUNT = C the image is [H, W, C] (a gray model takes [H, W, 1]): the conversions detect() makes
from other channel counts (mrcnn.data.images.channel_array) stay outside the graph.
Mold and unmold run in the graph, written in keras.ops:
- mold: the config's "square" resize (scale up to IMAGE_MIN_DIM, long side at most IMAGE_MAX_DIM)
  with PIL's bilinear filter (antialiased when shrinking, uint8 rounding after each pass, as the
  PIL resize that detect() uses), then centred zero padding. keras.ops.image.resize needs a
  static output size, which an any-size input does not have, so the resize is written here as
  two separable gathers.
- unmold: boxes back through the window and scale, clipped, rounded; each mask is pasted with
  bilinear interpolation matrices, rows [H, m] @ mask [m, m] @ cols [m, W], thresholded at 0.5.
TFLite and ONNX are converted from that SavedModel by their own command-line converters (in a
subprocess, so a converter crash cannot take the caller down); see docs/deploy.md for what blocks them.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import keras
from keras import ops

from mrcnn.data.boxes import box_frame

FORMATS = ("savedmodel", "tflite", "onnx")
ONNX_OPSET = 17


class ExportError(RuntimeError):
    """The model cannot be exported in the requested format (the message says why)."""


# Indexing with None compiles to a StridedSlice with new_axis_mask, which TFLite cannot run.
def _column(x):
    return ops.expand_dims(x, 1)


def _row(x):
    return ops.expand_dims(x, 0)


# ---- in-graph mold ------------------------------------------------------------------------------


def resample_taps(in_size, out_size):
    """PIL's bilinear (triangle) filter from `in_size` to `out_size` samples along one axis.

    When shrinking, the filter widens by in/out (antialiasing), as PIL does. in_size, out_size:
    int32 scalars. Returns taps [out, K] int32 (indices into the input) and weights [out, K]
    float32 (each row sums to 1).
    """
    in_float = ops.cast(in_size, "float32")
    scale = in_float / ops.cast(out_size, "float32")
    support = ops.maximum(scale, 1.0)
    count = 2 * ops.cast(ops.ceil(support), "int32") + 1
    center = (ops.cast(ops.arange(out_size), "float32") + 0.5) * scale
    first = ops.floor(center - support + 0.5)
    taps = _column(first) + _row(ops.cast(ops.arange(count), "float32"))
    weights = ops.maximum(0.0, 1.0 - ops.abs((taps - _column(center) + 0.5) / support))
    weights = ops.where(ops.logical_and(taps >= 0, taps < in_float), weights, 0.0)
    weights = weights / ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1e-12)
    return ops.clip(ops.cast(taps, "int32"), 0, in_size - 1), weights


def _resample_axis(image, size, axis):
    """image [H, W, C] float in [0, 255] resampled to `size` along axis 0 or 1, rounded like uint8."""
    taps, weights = resample_taps(ops.shape(image)[axis], size)

    def add_tap(k, total):
        shape = (-1, 1, 1) if axis == 0 else (1, -1, 1)
        weight = ops.reshape(ops.take(weights, k, axis=1), shape)
        return total + ops.take(image, ops.take(taps, k, axis=1), axis=axis) * weight

    start = ops.zeros_like(ops.take(image, ops.take(taps, 0, axis=1), axis=axis))
    total = ops.fori_loop(0, ops.shape(taps)[1], add_tap, start)
    return ops.clip(ops.floor(total + 0.5), 0.0, 255.0)


def resize_scale(height, width, min_dim, max_dim, min_scale):
    """The "square" mode's scale (float32 scalar), as utils.resize_image computes it."""
    short, long = ops.minimum(height, width), ops.maximum(height, width)
    scale = ops.maximum(1.0, min_dim / short) if min_dim else ops.convert_to_tensor(1.0)
    if min_scale:
        scale = ops.maximum(scale, float(min_scale))
    return ops.where(ops.round(long * scale) > max_dim, max_dim / long, scale)


def mold_image(image, size, min_dim, max_dim, min_scale=0, channels=3):
    """uint8 [H, W, C] → molded [size, size, C] float32, window [(y1, x1, y2, x2)] float32, scale."""
    shape = ops.shape(image)
    height, width = ops.cast(shape[0], "float32"), ops.cast(shape[1], "float32")
    scale = resize_scale(height, width, min_dim, max_dim, min_scale)
    new_h = ops.cast(ops.maximum(ops.round(height * scale), 1.0), "int32")
    new_w = ops.cast(ops.maximum(ops.round(width * scale), 1.0), "int32")
    resized = _resample_axis(ops.cast(image, "float32"), new_w, axis=1)  # PIL: horizontal pass first
    resized = _resample_axis(resized, new_h, axis=0)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    molded = ops.pad(resized, [[top, size - new_h - top], [left, size - new_w - left], [0, 0]])
    molded = ops.reshape(molded, (size, size, channels))
    window = ops.cast(ops.stack([top, left, top + new_h, left + new_w]), "float32")
    return molded, window, scale


# ---- in-graph unmold ----------------------------------------------------------------------------


def interpolation_matrices(count, start, stop, size):
    """Bilinear weights [N, count, size] spreading `size` mask cells over [start, stop) pixels.

    start, stop: [N] float pixels; pixels outside [floor(start), ceil(stop)) get zero rows
    (mrcnn.data.masks.paste_masks' rule).
    """
    pixels = _row(ops.cast(ops.arange(count), "float32"))
    start, stop = _column(start), _column(stop)
    position = (pixels + 0.5 - start) / ops.maximum(stop - start, 1e-6) * size - 0.5
    position = ops.clip(position, 0.0, size - 1.0)
    low = ops.floor(position)
    high = ops.minimum(low + 1.0, size - 1.0)
    weight = ops.expand_dims(position - low, -1)
    matrix = (
        ops.one_hot(ops.cast(low, "int32"), size) * (1.0 - weight) + ops.one_hot(ops.cast(high, "int32"), size) * weight
    )
    inside = ops.logical_and(pixels >= ops.floor(start), pixels < ops.ceil(stop))
    return matrix * ops.expand_dims(ops.cast(inside, "float32"), -1)


def paste_masks(masks, boxes, height, width, threshold=0.5, per_instance=True):
    """masks [N, m, m] probabilities over boxes [N, (y1, x1, y2, x2)] float pixels → uint8 [N, H, W].

    per_instance=True pastes one instance at a time (a map: memory for one [H, W] float plane);
    False pastes all at once (N float planes) for converters without dynamic-shape loops (TFLite).
    """
    masks = ops.cast(masks, "float32")
    rows = interpolation_matrices(height, boxes[:, 0], boxes[:, 2], ops.shape(masks)[1])
    cols = interpolation_matrices(width, boxes[:, 1], boxes[:, 3], ops.shape(masks)[2])
    if not per_instance:
        full = ops.matmul(ops.matmul(rows, masks), ops.transpose(cols, (0, 2, 1)))
        return ops.cast(full >= threshold, "uint8")

    def paste(args):
        row, mask, col = args
        return ops.cast(ops.matmul(ops.matmul(row, mask), ops.transpose(col)) >= threshold, "uint8")

    # A map over zero instances cannot infer its output shape: add one blank instance, drop it after.
    count = ops.shape(masks)[0]
    padded = [ops.pad(x, [[0, 1], [0, 0], [0, 0]]) for x in (rows, masks, cols)]
    return ops.map(paste, tuple(padded))[:count]


def _true_indices(flags):
    """Indices [k] int32 where flags [N] is True, ascending; a top_k (ops.nonzero's Unpack blocks TFLite)."""
    count = ops.shape(flags)[0]
    keys = ops.where(flags, ops.cast(count - ops.arange(count), "float32"), 0.0)
    return ops.top_k(keys, ops.sum(ops.cast(flags, "int32")))[1]


def unmold(detections, masks, window, scale, height, width, size, per_instance=True, normalization="mrcnn"):
    """Network output of one image → the endpoint's dict (see the module doc).

    detections: [D, (y1, x1, y2, x2, class_id, score)] normalised to the molded image (Config.BOX_NORMALIZATION),
    live slots first; masks: [n, m, m] for the first n slots.
    """
    frame_scale, frame_shift = box_frame(size, size, normalization)
    detections = ops.cast(detections, "float32")
    count = ops.sum(ops.cast(detections[:, 5] > 0, "int32"))
    detections = detections[:count]
    offset = ops.concatenate([window[:2], window[:2]])
    boxes = (detections[:, :4] * frame_scale + frame_shift - offset) / scale
    limit = ops.stack([height, width, height, width])
    boxes = ops.clip(boxes, 0.0, ops.cast(limit, "float32"))
    rois = ops.cast(ops.round(boxes), "int32")
    keep = _true_indices(ops.logical_and(rois[:, 2] > rois[:, 0], rois[:, 3] > rois[:, 1]))
    boxes = ops.take(boxes, keep, axis=0)
    return {
        "rois": ops.take(rois, keep, axis=0),
        "class_ids": ops.cast(ops.take(detections[:, 4], keep), "int32"),
        "scores": ops.take(detections[:, 5], keep),
        "masks": paste_masks(ops.take(masks[:count], keep, axis=0), boxes, height, width, per_instance=per_instance),
    }


def serving_function(model, per_instance=True):
    """fn(image uint8 [H, W, IMAGE_CHANNEL_COUNT]) → dict of rois, class_ids, scores, masks (see the module doc).

    per_instance: paste masks one instance at a time (see paste_masks).
    """
    config = model.config
    if model.mode != "inference":
        raise ExportError("Export needs a model created with mode='inference'")
    if config.IMAGE_RESIZE_MODE != "square":
        raise ExportError(
            f"Export supports IMAGE_RESIZE_MODE='square' (a fixed network input), not {config.IMAGE_RESIZE_MODE!r}"
        )
    size = int(config.IMAGE_MAX_DIM)
    network = model.keras_model

    def serve(image):
        molded, window, scale = mold_image(
            image, size, config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM, config.IMAGE_MIN_SCALE, config.IMAGE_CHANNEL_COUNT
        )
        detections, masks = network(ops.expand_dims(molded, 0), training=False)
        shape = ops.shape(image)
        return unmold(
            detections[0], masks[0], window, scale, shape[0], shape[1], size, per_instance, config.BOX_NORMALIZATION
        )

    return serve


# ---- writers ------------------------------------------------------------------------------------


def _replace_dir(temp, out_dir):
    """Move a finished export into place; refuse to overwrite a folder that is not an export."""
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not (out_dir / "saved_model.pb").exists() and any(out_dir.iterdir()):
            raise ExportError(f"{out_dir} exists and is not a SavedModel; choose an empty or new folder")
        shutil.rmtree(out_dir)
    os.replace(temp, out_dir)


def export_savedmodel(model, out_dir, per_instance=True):
    """Write `model` (an inference MaskRCNN) as a SavedModel folder `out_dir`. Returns its path.

    Reload with plain TensorFlow: `tf.saved_model.load(out_dir).serve(tf.constant(image))`.
    per_instance: see paste_masks.
    """
    fn = serving_function(model, per_instance)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    temp = tempfile.mkdtemp(prefix=".export-", dir=out_dir.parent)
    try:
        archive = keras.export.ExportArchive()
        archive.track(model.keras_model)
        channels = model.config.IMAGE_CHANNEL_COUNT
        archive.add_endpoint(
            "serve", fn, input_signature=[keras.InputSpec(shape=(None, None, channels), dtype="uint8")]
        )
        archive.write_out(temp, verbose=False)
        _replace_dir(temp, out_dir)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    return str(out_dir)


# Run-time failures of converted models whose cause is known (see docs/deploy.md).
KNOWN_CAUSES = {
    "only supports 1D-5D": "TFLite's STRIDED_SLICE takes at most 5-D tensors, and ROIAlign "
    "(roi_align.bilinear_crop) slices its 6-D corner gather [4, batch, rois, h, w, C]",
}
# Loads a converted .tflite with plain TensorFlow and runs it once on a small blank image.
TFLITE_SMOKE_TEST = (
    "import sys, numpy as np, tensorflow as tf\n"
    "runner = tf.lite.Interpreter(sys.argv[1]).get_signature_runner('serving_default')\n"
    "runner(image=np.zeros((48, 64, int(sys.argv[2])), np.uint8))\n"
)


def _blocking_ops(text):
    """Op names that a converter's error output reports as unsupported."""
    found = re.findall(r"'tf\.(\w+)'", text)
    for counter in re.findall(r"Unsupported ops: Counter\(\{([^}]*)\}", text):
        found += re.findall(r"'(\w+)'", counter)
    return sorted(set(found))


def _run_converter(command, what, out_file):
    """Run a converter command line; raise ExportError with its last lines (and blocking ops) on failure."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode == 0 and Path(out_file).is_file():
        return
    text = result.stderr + result.stdout
    ops_named = _blocking_ops(text)
    known = [cause for key, cause in KNOWN_CAUSES.items() if key in text]
    if known:
        raise ExportError(f"{what} failed: {known[0]}. docs/deploy.md lists what blocks each format.")
    reason = f"unsupported op(s): {', '.join(ops_named)}" if ops_named else "its last messages follow"
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith(("Traceback", "  "))]
    details = "\n".join(lines[-3:])
    raise ExportError(f"{what} failed: {reason}. docs/deploy.md lists what blocks each format.\n{details}")


def _convert(model, out_dir, name, command, per_instance, smoke_test=None):
    """Export a SavedModel to a temp folder, convert it with `command`, check it runs, move it into place."""
    if getattr(model, "precision", "float32") != "float32":
        raise ExportError(
            f"TFLite and ONNX take float32 graphs, this model runs {model.precision}: build it with "
            "PRECISION='float32' (MaskRCNN.from_weights(path, PRECISION='float32'); `mrcnn export` does)"
        )
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".export-", dir=out_dir.parent) as work:
        saved = export_savedmodel(model, Path(work) / "savedmodel", per_instance)
        partial = Path(work) / name
        kind = name.split(".")[-1].upper()
        _run_converter(command(saved, partial), f"{kind} conversion", partial)
        if smoke_test:
            _run_converter(
                [sys.executable, "-c", smoke_test, str(partial), str(model.config.IMAGE_CHANNEL_COUNT)],
                f"Running the converted {kind} model",
                partial,
            )
        out_dir.mkdir(exist_ok=True)
        os.replace(partial, out_dir / name)
    return str(out_dir / name)


def export_tflite(model, out_dir):
    """Write out_dir/model.tflite (TFLite builtin ops only) converted from the SavedModel.

    The converted model is run once on a blank image before it is kept: a model that converts
    but cannot run raises ExportError naming the cause.
    """
    return _convert(
        model,
        out_dir,
        "model.tflite",
        lambda saved, out: [
            sys.executable,
            "-m",
            "tensorflow.lite.python.tflite_convert",
            f"--saved_model_dir={saved}",
            "--saved_model_signature_key=serving_default",
            f"--output_file={out}",
        ],
        per_instance=False,
        smoke_test=TFLITE_SMOKE_TEST,
    )


def export_onnx(model, out_dir, opset=ONNX_OPSET):
    """Write out_dir/model.onnx with tf2onnx (an optional package: pip install tf2onnx onnxruntime)."""
    try:
        import tf2onnx  # noqa: F401  (only to fail early with a clear message)
    except ImportError:
        raise ExportError("ONNX export needs the tf2onnx package: pip install tf2onnx onnxruntime") from None
    return _convert(
        model,
        out_dir,
        "model.onnx",
        lambda saved, out: [
            sys.executable,
            "-m",
            "tf2onnx.convert",
            "--saved-model",
            str(saved),
            "--signature_def",
            "serving_default",
            "--opset",
            str(opset),
            "--output",
            str(out),
        ],
        per_instance=True,
    )


def export(model, out_dir, format="savedmodel"):
    """Export in `format` ("savedmodel", "tflite" or "onnx") into `out_dir`; returns the written path."""
    writers = {"savedmodel": export_savedmodel, "tflite": export_tflite, "onnx": export_onnx}
    if format not in writers:
        raise ExportError(f"Unknown export format {format!r}; use one of {', '.join(FORMATS)}")
    return writers[format](model, out_dir)
