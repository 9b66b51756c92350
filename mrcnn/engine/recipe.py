"""One-command training: a schedule of stages (layers, learning rate, input size) that keeps its best model.

    stages = default_schedule(epochs=90, learning_rate=0.01, sizes=(512, 1024))
    run_training(config, train_set, val_set, "runs/balloon", weights="imagenet", stages=stages, eval_every=9)

`run_training` trains stage after stage, rebuilding the training model when the input size changes (the weights
carry over through the last checkpoint), evaluates COCO AP on val with `EvalCheckpoint` (best.h5, last.h5,
val_ap.json) and ends by writing eval.json / eval.md (best.h5 on val), curves.png and overlays of a few val images
into the output folder. Checkpoints and TensorBoard logs go to <out>/<name><date>/ (matterport's layout), so
`weights="last"` (find_last_checkpoint(out, NAME)) resumes an interrupted run where it stopped.
"""

import dataclasses
import time
import warnings
from pathlib import Path

from mrcnn.engine.atomic import atomic_path
from mrcnn.engine.best_model import EvalCheckpoint

HEADS = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
LOSSES = ("loss", "rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss")


@dataclasses.dataclass(frozen=True)
class Stage:
    """Train `layers` at `learning_rate` up to epoch `last_epoch`, at `image_size` (None: the config's)."""

    last_epoch: int
    layers: str
    learning_rate: float
    image_size: int = None


def default_schedule(epochs, learning_rate, sizes=None, layers=None):
    """The stages of a run of `epochs` epochs.

    layers given: one constant-rate stage at the last size. Otherwise the new layers (FPN, RPN, heads) train
    first on the frozen ImageNet backbone, at `learning_rate`; then all layers at lr/5, and the last 15% at lr/50.
    Training all layers from the start lets the random heads' first gradients wreck the backbone's features
    (seen on MobileNet: C5 went 91% dead within 5 epochs). One size: heads for the first 20% of the epochs.
    Several sizes (progressive resizing, e.g. 512 then 1024): heads for 10% and the smaller sizes share the
    first 30%, the largest size trains the remaining 70%; small images make the early epochs cheap, and the
    model ends at the size it will serve at (it is tied to the scale it trained at).
    """
    sizes = list(sizes or [None])
    if layers:
        return [Stage(epochs, layers, learning_rate, sizes[-1])]
    if len(sizes) == 1:
        heads_end, small_end = max(1, round(0.2 * epochs)), None
    else:
        heads_end, small_end = max(1, round(0.1 * epochs)), max(1, round(0.3 * epochs))
    final_start = max(heads_end, round(0.85 * epochs))
    stages = [Stage(heads_end, "heads", learning_rate, sizes[0])]
    if small_end:
        share = (small_end - heads_end) / (len(sizes) - 1)
        ends = [round(heads_end + share * (i + 1)) for i in range(len(sizes) - 1)]
        stages += [Stage(end, "all", learning_rate / 5, size) for end, size in zip(ends, sizes[:-1])]
    stages += [Stage(final_start, "all", learning_rate / 5, sizes[-1])]
    stages += [Stage(epochs, "all", learning_rate / 50, sizes[-1])]
    return [s for i, s in enumerate(stages) if i == 0 or s.last_epoch > stages[i - 1].last_epoch]


def load_start_weights(model, path):
    """Load `path` into `model`: "imagenet" (the backbone's file), a .h5 path, or None for nothing.

    A file trained for another class count loads without the class-specific heads. Returns the path loaded.
    """
    from mrcnn.weights import h5 as weights_io

    if path is None:
        return None
    if path == "imagenet":
        path = model.get_imagenet_weights()
    stored = (weights_io.read_metadata(path)["config"] or {}).get("NUM_CLASSES")
    exclude = HEADS if stored and stored != model.config.NUM_CLASSES else None
    model.load_weights(path, by_name=True, exclude=exclude)
    print(f"Loaded weights from {path}" + (" (class heads excluded: other class count)" if exclude else ""))
    return path


def _model_at(config, size, logs, weights):
    """A training MaskRCNN at input `size` (None: the config's), started from `weights`."""
    from mrcnn.model import MaskRCNN

    if size and size != config.IMAGE_MAX_DIM:
        config = type(config).from_dict(config.to_dict(), IMAGE_MIN_DIM=size, IMAGE_MAX_DIM=size)
    model = MaskRCNN("training", config, str(logs))
    with warnings.catch_warnings():  # a checkpoint of the previous stage was trained at another size, on purpose
        warnings.filterwarnings("ignore", message=".*IMAGE_M(IN|AX)_DIM.*")
        load_start_weights(model, weights)
    return model


def run_stages(config, train_set, val_set, logs, weights, stages, callbacks=()):
    """Train through `stages`; returns the last training model. Stages already done (by the epoch of a
    resumed checkpoint) are skipped; an EvalCheckpoint among `callbacks` that ran out of patience ends the run."""
    model = None
    for stage in stages:
        size = stage.image_size or config.IMAGE_MAX_DIM
        if model is None or model.config.IMAGE_MAX_DIM != size:
            model = _model_at(config, size, logs, weights if model is None else model.find_last())
        if model.epoch >= stage.last_epoch:
            continue
        for callback in callbacks:
            if isinstance(callback, EvalCheckpoint):
                callback.mrcnn = model
        print(f"Stage: layers={stage.layers}, learning rate {stage.learning_rate:g}, {size} px, "
              f"epochs {model.epoch + 1}-{stage.last_epoch}")  # fmt: skip
        model.train(train_set, val_set, stage.learning_rate, stage.last_epoch, stage.layers,
                    custom_callbacks=list(callbacks))  # fmt: skip
        stopped = [c for c in callbacks if getattr(c, "stopped", False)]
        if stopped:
            print(f"Stopped early: val mask AP did not improve in {stopped[0].patience} evaluations")
            break
    return model


def run_training(config, train_set, val_set, out_dir, weights=None, stages=None, eval_every=None, patience=None,
                 overlays=4, min_confidence=0.05, test_set=None):  # fmt: skip
    """Train (see the module docstring) and write the run's report files into `out_dir`; returns eval results.

    test_set: a split no choice has seen; best.h5 is scored on it once, at the end (results["test"], eval.md).
    """
    out = Path(out_dir)
    stages = stages or default_schedule(30, config.LEARNING_RATE)
    every = eval_every or max(1, stages[-1].last_epoch // 10)
    keeper = EvalCheckpoint(None, val_set, out, every=every, patience=patience, min_confidence=min_confidence)
    started = time.perf_counter()
    model = run_stages(config, train_set, val_set, out, weights, stages, [keeper])
    print(f"Training took {time.perf_counter() - started:.0f} s; best epoch {keeper.best_epoch} "
          f"(val mask AP {keeper.best:.3f}); last checkpoint {model.find_last()}")  # fmt: skip
    return write_report(out, val_set, model.log_dir, keeper, overlays, test_set)


def write_report(out, val_set, log_dir, keeper, overlays, test_set=None):
    """eval.json + eval.md (best.h5 on val, and on test_set if given), curves.png and overlays/ of the first
    `overlays` val images."""
    from mrcnn.evaluation.coco import format_table, save_results
    from mrcnn.model import MaskRCNN

    best = out / "best.h5"
    results = dict(keeper.best_results)  # best.h5 was scored on val when it was kept: not evaluated again
    results["selection"] = {"best_epoch": keeper.best_epoch, "evaluations": keeper.scores}
    test = []
    if test_set is not None:
        results["test"] = keeper.evaluate(str(best), test_set)
        test = ["", f"# best.h5 on test ({len(test_set.image_ids)} images, not used for any choice)", "",
                format_table(results["test"])]  # fmt: skip
    save_results(results, out / "eval.json")
    lines = [f"# best.h5 (epoch {keeper.best_epoch}) on val ({len(val_set.image_ids)} images)", "",
             "Every evaluation of the run. best.h5 is the row with the highest mask AP, so its score is chosen on this",
             "split and optimistic; the last row (the last epoch) was not chosen.", "",
             "| epoch | mask AP | mask AP50 | box AP | box AP50 |", "|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {s['epoch']} | {s['val_mask_AP']:.3f} | {s['val_mask_AP50']:.3f} | {s['val_box_AP']:.3f} | "
              f"{s['val_box_AP50']:.3f} |" for s in keeper.scores]  # fmt: skip
    with atomic_path(out / "eval.md") as temp:
        Path(temp).write_text(format_table(results) + "\n\n" + "\n".join(lines + test) + "\n")
    write_curves(log_dir, out / "curves.png")
    model = MaskRCNN.from_weights(str(best), str(out), DETECTION_MIN_CONFIDENCE=0.5)
    from mrcnn.inference.outputs import write_overlay

    for image_id in val_set.image_ids[:overlays]:
        image = val_set.load_image(image_id)
        name = Path(str(val_set.image_info[image_id]["path"])).stem
        write_overlay(model, image, model.detect([image])[0], out / "overlays" / f"{name}.jpg")
    print(f"Wrote {out}/eval.json, eval.md, curves.png, overlays/")
    return results


def write_curves(log_dir, path):
    """`path` (PNG): the per-epoch losses (train and val) and val AP read back from the run's TensorBoard logs."""
    from mrcnn import visualize
    from mrcnn.engine.history import read_history

    history = read_history(log_dir)
    metrics = LOSSES + tuple(m for m in ("mask_AP", "mask_AP50") if m in history.get("validation", {}))
    visualize.plot_history(history, path=path, metrics=metrics)
    return path
