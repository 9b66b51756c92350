"""Read the per-epoch metrics that `MaskRCNN.train` logs for TensorBoard, e.g. to plot curves."""

from pathlib import Path


def read_history(log_dir):
    """{"train": {metric: [(epoch, value), ...]}, "validation": {...}} from a run's TensorBoard logs.

    log_dir: a run folder (logs/<name><date>) holding `train/` and `validation/` event files.
    Metric names drop Keras' "epoch_" prefix (loss, rpn_class_loss, ..., learning_rate).
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    history = {}
    for split in ("train", "validation"):
        folder = Path(log_dir) / split
        if not folder.is_dir():
            continue
        events = EventAccumulator(str(folder), size_guidance={"tensors": 0})
        events.Reload()
        series = {}
        for tag in (t for t in events.Tags()["tensors"] if t.startswith("epoch_")):
            points = {e.step: float(make_ndarray(e.tensor_proto)) for e in events.Tensors(tag)}
            series[tag.removeprefix("epoch_")] = sorted(points.items())
        history[split] = series
    if not history:
        raise FileNotFoundError(f"No TensorBoard logs (train/, validation/) under {log_dir}")
    return history
