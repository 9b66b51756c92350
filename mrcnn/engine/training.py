"""Training mechanics for `keras.Model.fit`: the loss-summing model, layer presets and callbacks."""

import math
import re

import keras

from mrcnn.engine import distribute
from mrcnn.modeling.stage_names import MatterportStageNames
from mrcnn.weights import h5 as weights_io
from mrcnn.weights import matterport

# matterport's presets; "N+" adds the backbone stages >= N (regexes the backbone provides).
HEADS_PATTERN = r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)"
STAGE_PRESETS = {"3+": 3, "4+": 4, "5+": 5}
# keras.applications ResNet layer → matterport's name (conv5_block1_1_conv → res5a_branch2a), for layer regexes.
MATTERPORT_NAMES = {ours: theirs for theirs, ours in matterport.resnet_name_map().items()}


class TrainingModel(MatterportStageNames, weights_io.LegacyH5Weights, distribute.MultiWorkerFitMixin, keras.Model):
    """Functional model whose outputs are the five losses; `fit` minimises their weighted sum.

    Each loss is reported as a metric (rpn_class_loss, ..., mrcnn_mask_loss) next to `loss`.
    The mixins make `fit` work with several workers (see mrcnn.engine.distribute) and save_weights("x.h5")
    write the legacy layout.
    """

    def __init__(self, *args, loss_names=(), loss_weights=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weights = dict(loss_weights or {})
        self.loss_trackers = [keras.metrics.Mean(name=name) for name in loss_names]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = 0.0
        for tracker in self.loss_trackers:
            value = y_pred[tracker.name]
            tracker.update_state(value)
            total = total + self.loss_weights.get(tracker.name, 1.0) * value
        for extra in self.losses:
            total = total + extra
        return total

    @property
    def metrics(self):
        return [self._loss_tracker] + self.loss_trackers


def layers_pattern(layers, backbone):
    """Resolve `train(layers=...)`: a preset name ("heads", "3+", "4+", "5+", "all") or a regex."""
    if layers == "heads":
        return HEADS_PATTERN
    if layers == "all":
        return ".*"
    if layers in STAGE_PRESETS:
        return f"{backbone.trainable_pattern(STAGE_PRESETS[layers])}|{HEADS_PATTERN}"
    try:
        re.compile(layers)
    except (re.error, TypeError) as err:
        raise ValueError(
            f"layers={layers!r} is neither a preset (heads, 3+, 4+, 5+, all) nor a valid regex: {err}"
        ) from None
    return layers


def set_trainable(model, pattern, train_bn=False):
    """Make exactly the weight layers whose names fully match `pattern` trainable.

    A ResNet layer also matches by matterport's name (res5a_branch2a, bn5a_branch2a, ...), so matterport's
    regexes such as "(res5.*)|(bn5.*)|(mrcnn_.*)" select what they did there. BatchNormalization layers
    stay frozen unless train_bn. Returns the trainable layer names; a pattern matching no layer raises ValueError.
    """
    regex = re.compile(pattern)
    layers = weights_io.weight_layers(model)
    matched = {name for name in layers if regex.fullmatch(name) or regex.fullmatch(MATTERPORT_NAMES.get(name, name))}
    if not matched:
        raise ValueError(
            f"layers={pattern!r} matches no layer of the model, so nothing would train; layer names look like "
            f"{', '.join(list(layers)[:3])}, ..., {', '.join(list(layers)[-3:])}"
        )
    trainable = []
    for name, layer in layers.items():
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = name in matched and (train_bn or not is_bn)
        if layer.trainable:
            trainable.append(name)
    return trainable


@keras.saving.register_keras_serializable(package="mrcnn")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """Ramp the learning rate linearly from ~0 to `rate` over `steps` steps, then hold it.

    Fresh detection heads produce large, noisy gradients; without a ramp they can push
    frozen-BN backbones (MobileNet especially) into dead ReLUs within the first epochs.
    """

    def __init__(self, rate, steps):
        self.rate = float(rate)
        self.steps = int(steps)

    def __call__(self, step):
        progress = keras.ops.minimum(1.0, (keras.ops.cast(step, "float32") + 1.0) / max(self.steps, 1))
        return self.rate * progress

    def get_config(self):
        return {"rate": self.rate, "steps": self.steps}


def make_optimizer(config, learning_rate, strategy=None):
    """The optimizer `MaskRCNN.train` compiles with: config.OPTIMIZER, warm-up, weight decay, clipping, loss scale."""
    # Keras clips each replica's gradient (of loss / replicas) before summing them, so divide the norm too.
    clipnorm = config.GRADIENT_CLIP_NORM and config.GRADIENT_CLIP_NORM / distribute.replica_count(strategy)
    if config.WARMUP_STEPS:
        learning_rate = LinearWarmup(learning_rate, config.WARMUP_STEPS)
    if config.OPTIMIZER == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.WEIGHT_DECAY, clipnorm=clipnorm)
    else:
        optimizer = keras.optimizers.SGD(
            learning_rate, momentum=config.LEARNING_MOMENTUM, weight_decay=config.WEIGHT_DECAY, clipnorm=clipnorm
        )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return distribute.loss_scaled(optimizer, distribute.resolve_precision(config.PRECISION, "training"))


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


class StopOnNaN(keras.callbacks.Callback):
    """Stop with a clear message as soon as a batch loss is not finite."""

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True
            raise TrainingDivergedError(
                f"Training diverged: loss is {loss} at batch {batch}. Lower LEARNING_RATE, keep "
                "GRADIENT_CLIP_NORM set, or check the annotations (empty or degenerate masks). "
                "The last good checkpoint is in the log directory."
            )


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch, write the weights to `path_template.format(epoch=N)` (legacy .h5 layout)."""

    def __init__(self, source_model, path_template, metadata):
        super().__init__()
        self.source_model = source_model
        self.path_template = path_template
        self.metadata = metadata

    def on_epoch_end(self, epoch, logs=None):
        weights_io.save(self.source_model, self.path_template.format(epoch=epoch + 1), self.metadata)
