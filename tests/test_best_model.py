"""EvalCheckpoint keeps the better of two epochs as best.h5, stops on patience, and runs inside train()."""

import json

import pytest
from tiny import TinyConfig, shapes

from mrcnn import model as modellib
from mrcnn.engine.best_model import EvalCheckpoint


def scripted(mask_aps, snapshots):
    """An evaluate() that returns the given mask APs in turn and remembers the last.h5 it was given."""
    aps = iter(mask_aps)

    def evaluate(weights_path, dataset):
        with open(weights_path, "rb") as f:
            snapshots.append(f.read())
        ap = next(aps)
        return {"segm": {"AP": ap, "AP50": ap + 0.1}, "bbox": {"AP": ap / 2, "AP50": ap}}

    return evaluate


class FakeKerasModel:
    stop_training = False


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
    return modellib.MaskRCNN("training", TinyConfig(), str(tmp_path_factory.mktemp("logs")))


def test_keeps_the_better_epoch_and_logs_the_scores(trainer, tmp_path):
    snapshots = []
    callback = EvalCheckpoint(trainer, None, tmp_path, evaluate=scripted([0.3, 0.1], snapshots))
    callback.set_params({"epochs": 2})
    logs = {}
    callback.on_epoch_end(0, logs)
    weights = trainer.keras_model.get_layer("mrcnn_class_logits").weights[0]
    weights.assign(weights + 1.0)  # epoch 2 has other weights
    callback.on_epoch_end(1, {})
    assert logs["val_mask_AP"] == 0.3 and logs["val_box_AP50"] == 0.3
    assert (tmp_path / "best.h5").read_bytes() == snapshots[0] != snapshots[1]
    assert (tmp_path / "last.h5").read_bytes() == snapshots[1]
    record = json.loads((tmp_path / "val_ap.json").read_text())
    assert record["best_epoch"] == 1 and [e["val_mask_AP"] for e in record["evaluations"]] == [0.3, 0.1]


def test_every_and_patience(trainer, tmp_path):
    snapshots = []
    callback = EvalCheckpoint(
        trainer, None, tmp_path, every=2, patience=2, evaluate=scripted([0.5, 0.4, 0.3], snapshots)
    )
    callback.set_model(FakeKerasModel())
    callback.set_params({"epochs": 9})
    for epoch in range(5):  # evaluates after epochs 2 and 4 only
        callback.on_epoch_end(epoch, {})
    assert len(snapshots) == 2 and not callback.model.stop_training
    callback.on_epoch_end(5, {})  # epoch 6: a second evaluation without improvement
    assert callback.model.stop_training and callback.best_epoch == 2
    with pytest.raises(ValueError, match="every and patience"):
        EvalCheckpoint(trainer, None, tmp_path, every=0)


@pytest.mark.slow
def test_inside_train_with_real_coco_evaluation(tmp_path):
    model = modellib.MaskRCNN("training", TinyConfig(), str(tmp_path / "logs"))
    val = shapes(2, seed=3)
    callback = EvalCheckpoint(model, val, tmp_path / "run")
    model.train(shapes(4), val, learning_rate=0.01, epochs=1, layers="heads", custom_callbacks=[callback])
    record = json.loads((tmp_path / "run" / "val_ap.json").read_text())
    assert record["best_epoch"] == 1 and 0.0 <= record["evaluations"][0]["val_mask_AP"] <= 1.0
    assert (tmp_path / "run" / "best.h5").is_file() and (tmp_path / "run" / "last.h5").is_file()
