"""Multi-device training: two logical CPUs under MirroredStrategy give one device's losses and step.

Sampling is random (RPN anchors, second-stage ROIs), so the comparison uses a config where the
sampling keeps everything: RPN_TRAIN_ANCHORS_PER_IMAGE = the anchor count (every positive and
negative anchor is used) and TRAIN_ROIS_PER_IMAGE = 2 * (proposals + ground truth) at a 0.5
positive ratio (every candidate ROI fits). The random keys then only reorder the samples, and
the losses (means over them) do not depend on the seed.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from tiny import TinyConfig

from mrcnn.engine import distribute

TESTS = Path(__file__).resolve().parent

SCRIPT = textwrap.dedent("""
    import json, sys
    from mrcnn.engine import distribute
    distribute.configure_logical_cpus(2)  # before TensorFlow initialises
    import keras
    import numpy as np
    from mrcnn import model as modellib
    from mrcnn.weights import h5 as weights_io
    from mrcnn.data.generator import DataGenerator
    from tiny import TinyConfig, shapes

    anchors = 3 * sum((128 // stride) ** 2 for stride in (4, 8, 16, 32, 64))
    keep_all = dict(RPN_TRAIN_ANCHORS_PER_IMAGE=anchors, POST_NMS_ROIS_TRAINING=16,
                    TRAIN_ROIS_PER_IMAGE=2 * (16 + TinyConfig.MAX_GT_INSTANCES), ROI_POSITIVE_RATIO=0.5,
                    IMAGES_PER_GPU=1, GRADIENT_CLIP_NORM=0.001)  # a tiny norm: clipping is active
    keras.utils.set_random_seed(0)
    one = modellib.MaskRCNN("training", TinyConfig(GPU_COUNT=1, **keep_all), sys.argv[1])
    two = modellib.MaskRCNN("training", TinyConfig(GPU_COUNT=2, **keep_all), sys.argv[1])
    one.save_weights(sys.argv[1] + "/initial.h5")
    two.load_weights(sys.argv[1] + "/initial.h5", by_name=True)
    out = {"replicas": two.strategy.num_replicas_in_sync, "devices": list(two.strategy.extended.worker_devices)}

    # Evaluate: one device sees the two images one at a time, two devices one each in one step.
    data = shapes(2)
    for name, model in (("one", one), ("two", two)):
        model.set_trainable(".*")
        with distribute.strategy_scope(model.strategy):
            model.keras_model.compile(optimizer=model._optimizer(0.01))
        generator = DataGenerator(data, model.config, shuffle=False)
        out[name + "_eval"] = model.keras_model.evaluate(generator, steps=2 // model.config.BATCH_SIZE,
                                                         return_dict=True, verbose=0)
    # One SGD step: the same image on both replicas equals that image on one device.
    single = shapes(1)
    for name, model in (("one", one), ("two", two)):
        history = model.keras_model.fit(DataGenerator(single, model.config, shuffle=False), steps_per_epoch=1,
                                        epochs=1, verbose=0)
        out[name + "_fit"] = {k: v[-1] for k, v in history.history.items()}
    weights = [weights_io.weight_layers(m.keras_model) for m in (one, two)]
    out["max_weight_difference"] = max(
        float(np.abs(a - b).max())
        for name in weights[0] for a, b in zip(weights[0][name].get_weights(), weights[1][name].get_weights()))
    initial = modellib.MaskRCNN("training", TinyConfig(**keep_all), sys.argv[1])
    initial.load_weights(sys.argv[1] + "/initial.h5", by_name=True)
    moved = weights_io.weight_layers(initial.keras_model)["mrcnn_class_logits"].get_weights()[0]
    out["step_size"] = float(np.abs(moved - weights[0]["mrcnn_class_logits"].get_weights()[0]).max())
    print("RESULT" + json.dumps(out))
""")


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    logs = tmp_path_factory.mktemp("distribute")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    env.pop("MRCNN_STRATEGY", None)
    env.pop("TF_CONFIG", None)
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(logs)], capture_output=True, text=True, env=env, timeout=300
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, result.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT") :])


def test_two_replicas_on_two_logical_cpus(two_devices):
    assert two_devices["replicas"] == 2
    assert [d.split("/")[-1] for d in two_devices["devices"]] == ["device:CPU:0", "device:CPU:1"]


def test_two_devices_evaluate_to_the_mean_of_single_device_losses(two_devices):
    one, two = two_devices["one_eval"], two_devices["two_eval"]
    assert set(one) == set(two) and "mrcnn_mask_loss" in one
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-7), name


def test_one_training_step_matches_one_device(two_devices):
    """Gradient averaging (loss / replicas) and clipping (norm / replicas) reproduce one device."""
    one, two = two_devices["one_fit"], two_devices["two_fit"]
    for name in one:
        assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-7), name
    assert two_devices["step_size"] > 1e-6  # the step really moved the weights
    assert two_devices["max_weight_difference"] < 1e-3 * two_devices["step_size"]


# ---- strategy choice (no devices are created) --------------------------------------------------


def test_one_gpu_means_no_strategy(monkeypatch):
    monkeypatch.delenv(distribute.STRATEGY_ENV, raising=False)
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.resolve_strategy(TinyConfig()) is None
    assert distribute.replica_count(None) == 1


def test_strategy_sources_in_order(monkeypatch):
    chosen = []
    monkeypatch.setattr(distribute, "_named_strategy", lambda name, config: chosen.append(name))
    monkeypatch.delenv(distribute.STRATEGY_ENV, raising=False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["localhost:1"]}, "task": {"index": 0}}))
    distribute.resolve_strategy(TinyConfig())
    monkeypatch.setenv(distribute.STRATEGY_ENV, "mirrored")
    distribute.resolve_strategy(TinyConfig())
    distribute.resolve_strategy(TinyConfig(), strategy="default")
    monkeypatch.delenv("TF_CONFIG")
    monkeypatch.delenv(distribute.STRATEGY_ENV)
    distribute.resolve_strategy(TinyConfig(GPU_COUNT=2))
    assert chosen == ["multi_worker", "mirrored", "default", "mirrored"]


def test_bad_strategy_requests_say_what_to_fix(monkeypatch):
    monkeypatch.delenv(distribute.STRATEGY_ENV, raising=False)
    with pytest.raises(distribute.StrategyError, match="GPU_COUNT=3"):
        distribute.resolve_strategy(TinyConfig(GPU_COUNT=3))  # this machine has no 3 devices
    with pytest.raises(distribute.StrategyError, match="Unknown strategy 'tpu'"):
        distribute.resolve_strategy(TinyConfig(), strategy="tpu")
