"""Predictor: one Mask R-CNN model, loaded once, shared by all request threads.

TensorFlow/Keras models are not safe to call from several threads at once here, so `detect`
runs under a lock; decoding and response encoding happen outside it.
"""

import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np

from mrcnn.inference.results import check_result

# Summarised by GET /model (missing attributes are left out).
CONFIG_SUMMARY_KEYS = (
    "NAME",
    "BACKBONE",
    "BACKBONE_OPTIONS",
    "NUM_CLASSES",
    "IMAGE_RESIZE_MODE",
    "IMAGE_MIN_DIM",
    "IMAGE_MAX_DIM",
    "TOP_DOWN_PYRAMID_SIZE",
    "RPN_CONV_CHANNELS",
    "MASK_HEAD_CHANNELS",
    "POST_NMS_ROIS_INFERENCE",
    "DETECTION_MIN_CONFIDENCE",
    "DETECTION_MAX_INSTANCES",
    "DETECTION_NMS_THRESHOLD",
)


class WeightsError(RuntimeError):
    """The weights file is missing, unreadable or not a Mask R-CNN checkpoint."""


class Predictor:
    """Wraps a model with `config`, `class_names` and `detect(images, verbose=0)`.

    source: a weights path (str / PathLike; the model is built with MaskRCNN.from_weights,
    at once unless lazy=True) or a ready model object (e.g. a stub in tests).
    """

    def __init__(self, source, lazy=False):
        self._detect_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._sha256 = None
        if isinstance(source, (str, os.PathLike)):
            self.weights_path = Path(source)
            self._model = None
            if not lazy:
                self.load()
        else:
            if not callable(getattr(source, "detect", None)):
                raise TypeError("Predictor needs a weights path or a model object with detect()")
            self.weights_path = None
            self._model = source

    @property
    def model(self):
        """The model, loaded on first use when lazy."""
        if self._model is None:
            self.load()
        return self._model

    @property
    def class_names(self):
        return list(self.model.class_names)

    def load(self):
        """Build the model from `weights_path` once; raise WeightsError with a one-line reason."""
        with self._load_lock:
            if self._model is not None:
                return self._model
            path = self.weights_path
            _check_weights_file(path)
            self._sha256 = file_sha256(path)
            try:
                from mrcnn.model import MaskRCNN  # imports TensorFlow: only when really needed
            except ImportError as error:
                raise WeightsError(
                    f"cannot import mrcnn.model to load {path} (is TensorFlow installed?): {error}"
                ) from None
            try:
                model = MaskRCNN.from_weights(str(path))
                # Trace the network now, so the first request does not pay ~1 s of tf.function tracing.
                model.detect([np.zeros((64, 64, 3), np.uint8)], verbose=0)
                self._model = model
            except Exception as error:  # any failure here means the file is not a usable checkpoint
                raise WeightsError(f"cannot load weights {path}: {type(error).__name__}: {error}") from None
            return self._model

    def detect(self, image):
        """image: [H, W, 3] uint8 -> (result, inference_ms).

        result: rois int32 [N, (y1, x1, y2, x2)] pixels (y2/x2 exclusive), class_ids int32 [N],
        scores float32 [N], masks bool [H, W, N].
        """
        results, elapsed_ms = self.detect_batch([image])
        return results[0], elapsed_ms

    def detect_batch(self, images):
        """One model.detect() call for all images, under the model lock -> ([result per image], inference_ms).

        MaskRCNN.detect itself runs them BATCH_SIZE at a time; each result is as `detect` describes.
        """
        model = self.model
        with self._detect_lock:
            start = time.perf_counter()
            raw = model.detect(list(images), verbose=0)
            elapsed_ms = (time.perf_counter() - start) * 1000.0
        return [_normalise_result(r, image.shape[:2]) for r, image in zip(raw, images)], elapsed_ms

    def info(self):
        """Description for GET /model: backbone, classes, weights file and sha256, config summary."""
        config = self.model.config
        backbone = getattr(config, "BACKBONE", None)
        if callable(backbone):
            backbone = getattr(backbone, "__name__", repr(backbone))
        summary = {key: _jsonable(getattr(config, key)) for key in CONFIG_SUMMARY_KEYS if hasattr(config, key)}
        if "BACKBONE" in summary:
            summary["BACKBONE"] = backbone
        return {
            "backbone": backbone,
            "classes": self.class_names,
            "weights_file": self.weights_path.name if self.weights_path else None,
            "weights_sha256": self._sha256,
            "config": summary,
        }


def _check_weights_file(path):
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path} (pass --weights PATH or set WEIGHTS)")
    import h5py  # no TensorFlow needed for this check

    try:
        is_hdf5 = h5py.is_hdf5(str(path))
    except OSError as error:
        raise WeightsError(f"cannot read weights file {path}: {error}") from None
    if not is_hdf5:
        raise WeightsError(f"weights file {path} is not an HDF5 (.h5) file; is it corrupt or truncated?")


def file_sha256(path, chunk_size=1 << 20):
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _normalise_result(result, image_hw):
    """Coerce a detect() result to the documented dtypes/shapes (N may be 0); see check_result."""
    return check_result(result, image_hw, where="detect() result")


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
