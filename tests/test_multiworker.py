"""Two worker processes under MultiWorkerMirroredStrategy (TF_CONFIG on localhost) train as one.

Each worker builds the multi-worker model and, beside it, a one-device model with the same
initial weights. Under TF_CONFIG the batch a worker's DataGenerator yields (BATCH_SIZE =
IMAGES_PER_GPU * GPU_COUNT, GPU_COUNT = replicas of all workers) is the global batch: worker i
keeps its i-th share. Sampling keeps everything (as in test_distribute.py), so the losses do not
depend on the random keys and can be compared with the one-device model:
  - evaluate on images [A, B] (worker 0 gets A, worker 1 gets B) = the mean of one-device
    evaluations of A and of B;
  - one SGD step on [A, A] = one one-device step on A: same loss, same weights;
  - then `train()` (callbacks, validation, checkpoints) runs with different data per worker, and
    both workers must end with identical weights.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

TESTS = Path(__file__).resolve().parent
TIMEOUT = 600  # seconds for both workers together; they wait on each other in every step

WORKER = textwrap.dedent("""
    import json, sys
    import keras
    import numpy as np
    from mrcnn import model as modellib
    from mrcnn.engine import distribute
    from mrcnn.data.generator import DataGenerator
    from tiny import TinyConfig, shapes

    logs = sys.argv[1]
    anchors = 3 * sum((128 // stride) ** 2 for stride in (4, 8, 16, 32, 64))
    keep_all = dict(RPN_TRAIN_ANCHORS_PER_IMAGE=anchors, POST_NMS_ROIS_TRAINING=16,
                    TRAIN_ROIS_PER_IMAGE=2 * (16 + TinyConfig.MAX_GT_INSTANCES), ROI_POSITIVE_RATIO=0.5,
                    IMAGES_PER_GPU=1, GRADIENT_CLIP_NORM=0.001, STEPS_PER_EPOCH=2)  # clipping is active
    keras.utils.set_random_seed(0)
    two = modellib.MaskRCNN("training", TinyConfig(GPU_COUNT=2, **keep_all), logs)  # TF_CONFIG: multi-worker
    one = modellib.MaskRCNN("training", TinyConfig(GPU_COUNT=1, **keep_all), logs, strategy="default")
    one.keras_model.set_weights(two.keras_model.get_weights())
    out = {"strategy": type(two.strategy).__name__, "replicas": two.strategy.num_replicas_in_sync,
           "multi_worker": distribute.is_multi_worker(two.strategy)}

    for name, model in (("one", one), ("two", two)):
        model.set_trainable(".*")
        with distribute.strategy_scope(model.strategy):
            model.keras_model.compile(optimizer=model._optimizer(0.01))
        generator = DataGenerator(shapes(2), model.config, shuffle=False)
        out[name + "_eval"] = model.keras_model.evaluate(generator, steps=2 // model.config.BATCH_SIZE,
                                                         return_dict=True, verbose=0)
    out["one_eval_first"] = one.keras_model.evaluate(DataGenerator(shapes(2), one.config, shuffle=False), steps=1,
                                                      return_dict=True, verbose=0)
    initial = two.keras_model.get_weights()
    for name, model in (("one", one), ("two", two)):
        history = model.keras_model.fit(DataGenerator(shapes(1), model.config, shuffle=False), steps_per_epoch=1,
                                        epochs=1, verbose=0)
        out[name + "_fit"] = {k: v[-1] for k, v in history.history.items()}
    stepped = two.keras_model.get_weights()
    out["step_size"] = max(float(np.abs(a - b).max()) for a, b in zip(one.keras_model.get_weights(), initial))
    out["max_weight_difference"] = max(
        float(np.abs(a - b).max()) for a, b in zip(one.keras_model.get_weights(), stepped))

    history = two.train(shapes(4, seed=1), shapes(2, seed=2), learning_rate=0.01, epochs=1, layers="heads")
    out["train"] = {k: v[-1] for k, v in history.history.items()}
    out["checkpoint"] = two.find_last()
    out["trained_moved"] = max(float(np.abs(a - b).max()) for a, b in zip(two.keras_model.get_weights(), stepped))
    np.savez(logs + "/weights.npz", *two.keras_model.get_weights())
    print("RESULT" + json.dumps(out))
""")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """Run both workers; returns [(result dict, weights list)] for worker 0 and 1."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join([str(TESTS.parent), str(TESTS)])}
    env.pop("MRCNN_STRATEGY", None)
    procs, dirs = [], []
    for index in range(2):
        dirs.append(tmp_path_factory.mktemp(f"worker{index}"))
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(dirs[-1])],
                env={**env, "TF_CONFIG": tf_config},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=TIMEOUT))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        pytest.fail(f"The workers did not finish within {TIMEOUT} s (a collective waits for a dead peer?)")
    results = []
    for index, (stdout, stderr) in enumerate(outputs):
        lines = [line for line in stdout.splitlines() if line.startswith("RESULT")]
        assert lines, f"worker {index} failed:\n{stderr[-3000:]}"
        with np.load(dirs[index] / "weights.npz") as stored:
            weights = [stored[f"arr_{i}"] for i in range(len(stored.files))]
        results.append((json.loads(lines[-1][len("RESULT") :]), weights))
    return results


@pytest.mark.slow
def test_two_workers_form_one_two_replica_cluster(workers):
    for result, _ in workers:
        assert result["strategy"] == "CollectiveAllReduceStrategy"
        assert result["replicas"] == 2 and result["multi_worker"]


@pytest.mark.slow
def test_evaluate_gives_the_mean_over_both_workers_images(workers):
    """Worker i evaluates image i of the global batch; both report the mean of one-device losses."""
    for result, _ in workers:
        one, two = result["one_eval"], result["two_eval"]
        assert set(one) == set(two) and "mrcnn_mask_loss" in one
        for name in one:
            assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-7), name
        # Image A alone gives another loss: had both workers evaluated A, the check above would fail.
        assert abs(result["one_eval_first"]["loss"] - one["loss"]) > 1e-3


@pytest.mark.slow
def test_one_step_on_two_workers_matches_one_device(workers):
    """Gradients are averaged over the workers and clipped as on one device."""
    for result, _ in workers:
        one, two = result["one_fit"], result["two_fit"]
        assert set(one) == set(two)
        for name in one:
            assert two[name] == pytest.approx(one[name], rel=1e-5, abs=1e-7), name
        assert result["step_size"] > 1e-6  # the step really moved the weights
        assert result["max_weight_difference"] < 1e-3 * result["step_size"]


@pytest.mark.slow
def test_train_keeps_the_workers_in_sync(workers):
    (first, weights0), (second, weights1) = workers
    for result in (first, second):
        assert all(np.isfinite(value) for value in result["train"].values()), result["train"]
        assert {"loss", "val_loss", "mrcnn_mask_loss"} <= set(result["train"])
        assert result["checkpoint"].endswith("_0001.h5")
        assert result["trained_moved"] > 1e-6  # train() really changed the weights
    assert first["train"]["loss"] == pytest.approx(second["train"]["loss"], rel=1e-6)
    assert len(weights0) == len(weights1)
    assert max(float(np.abs(a - b).max()) for a, b in zip(weights0, weights1)) < 1e-6


def test_the_global_batch_must_split_over_all_workers_replicas(monkeypatch):
    """BATCH_SIZE is split over every replica of the cluster: an empty share is refused up front."""
    from types import SimpleNamespace

    from tiny import TinyConfig

    from mrcnn.engine import distribute

    cluster = SimpleNamespace(num_replicas_in_sync=2, extended=SimpleNamespace(worker_devices=["/cpu:0"]))
    monkeypatch.setattr(distribute, "_named_strategy", lambda name, config: cluster)
    monkeypatch.delenv(distribute.STRATEGY_ENV, raising=False)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:1"]}, "task": {"index": 0}}))
    with pytest.raises(distribute.StrategyError, match="BATCH_SIZE=1 .* over the 2 replicas"):
        distribute.resolve_strategy(TinyConfig(IMAGES_PER_GPU=1, GPU_COUNT=1))
    assert distribute.resolve_strategy(TinyConfig(IMAGES_PER_GPU=1, GPU_COUNT=2)) is cluster
