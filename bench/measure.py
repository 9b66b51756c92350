"""Timing and measuring helpers shared by bench/bench.py and backbones/compare.py."""

import gc
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

# The machine reference (reference_ms(): ResNet101 forward on 1x512x512x3) lives in ../shared/tools beside the checkout.
TOOLS = Path(__file__).resolve().parents[2] / "shared" / "tools"


def median(values):
    return float(statistics.median(values))


def check_reference_tool(error):
    """Raise `error` (the calling script's exception class) if TOOLS/reference_ms.py is missing."""
    if not (TOOLS / "reference_ms.py").is_file():
        raise error(
            f"Reference tool not found: {TOOLS / 'reference_ms.py'}; every time is measured against it: put the "
            "shared/ folder (with tools/reference_ms.py) beside the repository checkout"
        )


def timed(runs, warmup, call, *args):
    """call(*args) `warmup` times untimed, then `runs` times: ([ms of each timed call], the last call's result)."""
    for _ in range(warmup):
        call(*args)
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = call(*args)
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def free_memory():
    """Drop the Keras graph state and collect, so the next model starts from a small process."""
    import keras

    keras.backend.clear_session()
    gc.collect()


def machine_info(versions=True):
    """Platform, CPU count and Python version; with `versions`, also the processor and library versions."""
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": platform.python_version()}
    if not versions:
        return info
    import keras
    import numpy as np
    import tensorflow as tf

    return {
        "platform": info["platform"],
        "processor": platform.processor() or platform.machine(),
        "cpu_count": info["cpu_count"],
        "python": info["python"],
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
    }


def inference_model(config, weights=None):
    """An inference MaskRCNN for `config` (logs in a temporary folder), with `weights` loaded by name if given."""
    from mrcnn.model import MaskRCNN

    with tempfile.TemporaryDirectory() as logs:
        model = MaskRCNN("inference", config, logs)
    if weights:
        model.load_weights(str(weights), by_name=True)
    return model


def detect_once(model, images):
    """One MaskRCNN._detect_batch on `images` (one batch), timed per part.

    Returns ({"mold": ms, "network": ms, "unmold": ms}, filled network slots per image, detections per image).
    """
    from mrcnn.inference import mold

    t0 = time.perf_counter()
    molded, windows, scales, shapes = model.mold_inputs(images)
    t1 = time.perf_counter()
    detections, masks = model.keras_model.predict_on_batch(molded)
    t2 = time.perf_counter()
    results = [
        mold.unmold_detections(detections[i], masks[i], shapes[i], molded.shape[1:], windows[i], scales[i])
        for i in range(len(images))
    ]
    t3 = time.perf_counter()
    parts = {"mold": (t1 - t0) * 1000, "network": (t2 - t1) * 1000, "unmold": (t3 - t2) * 1000}
    filled = (detections[:, :, 5] > 0).sum(axis=1)
    return parts, filled.tolist(), [len(r["class_ids"]) for r in results]


def time_detect(model, images, runs, warmup):
    """Median ms per image of detect() on one batch of `images`: total and mold / network / unmold."""
    for _ in range(warmup):
        detect_once(model, images)
    samples, filled, counts = [], [], []
    for _ in range(runs):
        parts, filled, counts = detect_once(model, images)
        samples.append(parts)
    per_image = len(images)
    totals = [sum(p.values()) for p in samples]
    result = {"ms": median(totals) / per_image, "min_ms": min(totals) / per_image}
    for part in ("mold", "network", "unmold"):
        result[f"{part}_ms"] = median([p[part] for p in samples]) / per_image
    # Slots the network filled, and detections left after unmolding (boxes that vanish when clipped are dropped).
    result["network_detections_per_image"] = float(statistics.mean(filled))
    result["detections_per_image"] = float(statistics.mean(counts))
    return result


def add_ratios(node, ref):
    """Recursively add "x_ref" beside every "ms" and "<part>_x_ref" beside every "<part>_ms" (ms / ref)."""
    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if key == "ms" or key.endswith("_ms"):
                node[key[:-2] + "x_ref"] = value / ref
            else:
                add_ratios(value, ref)
    elif isinstance(node, list):
        for item in node:
            add_ratios(item, ref)
    return node
