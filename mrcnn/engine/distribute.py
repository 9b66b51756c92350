"""How a model runs on devices: tf.distribute strategies and mixed precision.

This replaces matterport's ParallelModel. `GPU_COUNT` is the number of replicas and
BATCH_SIZE = IMAGES_PER_GPU * GPU_COUNT the global batch of a step, which Keras splits across
them: the devices of this machine, or under TF_CONFIG the replicas of all workers together
(every worker loads the whole global batch and keeps its share). The strategy is chosen, first
match wins, from:
  1. an explicit `strategy=` (a tf.distribute.Strategy or a name, see STRATEGY_NAMES);
  2. the MRCNN_STRATEGY environment variable (a name);
  3. TF_CONFIG in the environment → "multi_worker" (MultiWorkerMirroredStrategy);
  4. GPU_COUNT > 1 → "mirrored" over the first GPU_COUNT GPUs (or logical CPUs if no GPU exists).
Otherwise no strategy (Keras' default, one device).

Config.PRECISION = "auto" (the default) is resolved by `resolve_precision`, first match wins:
  1. the MRCNN_PRECISION environment variable ("float32", "mixed_float16" or "mixed_bfloat16");
  2. GPUs: "mixed_float16" if every GPU has compute capability >= 7.0, else "float32";
  3. a CPU with bfloat16 instructions (AVX512_BF16 or AMX): "mixed_bfloat16" for inference (the bundled
     balloon model keeps its val mask AP within 0.01: 0.642 against 0.644), "float32" for training;
  4. "float32".
An explicit PRECISION other than "auto" is used as it is.

With tf_ops.py, this is one of the two modules that import TensorFlow.
"""

import contextlib
import os

import keras
import tensorflow as tf

STRATEGY_ENV = "MRCNN_STRATEGY"
STRATEGY_NAMES = ("default", "mirrored", "multi_worker")
PRECISION_ENV = "MRCNN_PRECISION"
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")  # Config.PRECISION, besides "auto"
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU flags on which oneDNN runs bfloat16 fast
CPUINFO = "/proc/cpuinfo"  # Linux; elsewhere the probe claims no bfloat16


class StrategyError(ValueError):
    """The requested distribution does not fit the devices or the config."""


def configure_logical_cpus(count):
    """Split the CPU into `count` logical devices (e.g. to try MirroredStrategy without GPUs).

    Must run before TensorFlow initialises its devices (before any tensor is created).
    """
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * int(count))
    except RuntimeError as err:
        raise StrategyError(
            f"Cannot split the CPU into {count} logical devices: TensorFlow is already initialised ({err}). "
            "Call configure_logical_cpus() first thing in the process."
        ) from None


def mirrored_devices(count):
    """Names of the first `count` GPUs, or of `count` logical CPUs when the machine has no GPU."""
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(gpus) >= count:
        return gpus[:count]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    if not gpus and len(cpus) >= count:
        return cpus[:count]
    raise StrategyError(
        f"GPU_COUNT={count} but only {len(gpus)} GPU(s) are visible ({', '.join(gpus) or 'none'}); "
        "set GPU_COUNT to the number of GPUs, or GPU_COUNT=1 for one device"
    )


def _named_strategy(name, config):
    if name == "default":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(mirrored_devices(max(config.GPU_COUNT, 1)))
    if name == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise StrategyError(f"Unknown strategy {name!r}; use one of {STRATEGY_NAMES} or a tf.distribute.Strategy")


def resolve_strategy(config, strategy=None):
    """The tf.distribute.Strategy to build and train under, or None for a single device (see module doc)."""
    if isinstance(strategy, tf.distribute.Strategy):
        chosen = strategy
    else:
        name = strategy or os.environ.get(STRATEGY_ENV) or ("multi_worker" if os.environ.get("TF_CONFIG") else None)
        if name is None:
            name = "mirrored" if config.GPU_COUNT > 1 else "default"
        chosen = _named_strategy(str(name).lower(), config)
    replicas = replica_count(chosen)
    if config.BATCH_SIZE % replicas:
        where = "of all workers" if is_multi_worker(chosen) else "on this machine"
        raise StrategyError(
            f"BATCH_SIZE={config.BATCH_SIZE} (IMAGES_PER_GPU * GPU_COUNT) does not split evenly over the "
            f"{replicas} replicas {where}; set GPU_COUNT to that replica count"
        )
    return chosen


def strategy_scope(strategy):
    """`strategy.scope()`, or a no-op context for None."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def replica_count(strategy):
    """Replicas that average their gradients: 1 without a strategy."""
    return strategy.num_replicas_in_sync if strategy is not None else 1


def is_multi_worker(strategy):
    """True for a MultiWorkerMirroredStrategy whose replicas span more than this process."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.num_replicas_in_sync > len(
        strategy.extended.worker_devices
    )


class MultiWorkerFitMixin:
    """Lets `keras.Model.fit` / `evaluate` run under a multi-worker MultiWorkerMirroredStrategy.

    Works around two bugs of Keras 3.15.1's TensorFlow trainer (keras/src/backend/tensorflow/
    trainer.py) that only show with more than one worker; both overrides change nothing otherwise:

    1. `_maybe_symbolic_build` averages the first input batch over all replicas with
       `strategy.reduce("MEAN", batch, axis=None)`, only to read its shapes. Across workers that
       reduce is a collective op (CollectiveAllReduceExtended._reduce_to does not map over
       nests): a dict batch fails with "unsupported type <class 'dict'>". The first local
       replica's share has the same per-replica shapes, so it is used instead.
    2. `reduce_per_replica` averages each returned log with `strategy.reduce("MEAN", v, axis=0)`,
       which fails on scalars ("Invalid reduction dimension 0 for input with 0 dimensions").
       Each log gets a leading axis of 1, so that reduce yields the mean over all replicas.
    Put it before keras.Model in the bases. Upstream: keras-team/keras#20329, #20585.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and data_batch is None and is_multi_worker(self.distribute_strategy):
            data_batch, iterator = _first_local_batch(self.distribute_strategy, iterator), None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if is_multi_worker(self.distribute_strategy):
            logs = {name: tf.expand_dims(value, 0) for name, value in logs.items()}
        return logs


def _first_local_batch(strategy, epoch_iterator):
    """The first batch of a Keras TF epoch iterator, as the first local replica's tensors."""
    for _, _, iterator in epoch_iterator:
        batch = next(iterator)
        return tf.nest.map_structure(lambda value: strategy.experimental_local_results(value)[0], batch)
    raise ValueError("The training data yields no batch")


def probe_machine():
    """(lowest GPU compute capability as (major, minor), or None without GPUs; whether the CPU has bfloat16)."""
    capabilities = [
        tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    try:
        with open(CPUINFO) as cpuinfo:
            flags = {word for line in cpuinfo if line.startswith("flags") for word in line.split()}
    except OSError:
        flags = set()
    return (min(capabilities) if capabilities else None), any(flag in flags for flag in CPU_BF16_FLAGS)


def resolve_precision(precision, mode):
    """The Keras dtype policy name for Config.PRECISION in `mode` ("training" or "inference"): see module doc."""
    if precision != "auto":
        return precision
    forced = os.environ.get(PRECISION_ENV, "").strip().lower()
    if forced:
        if forced not in PRECISIONS:
            raise ValueError(f"{PRECISION_ENV} must be one of {PRECISIONS}, got {forced!r}")
        return forced
    gpu_capability, cpu_bf16 = probe_machine()
    if gpu_capability is not None:
        return "mixed_float16" if tuple(gpu_capability) >= (7, 0) else "float32"
    return "mixed_bfloat16" if cpu_bf16 and mode == "inference" else "float32"


# Layers whose outputs are predictions: they stay float32 (the losses and box decoding read them).
OUTPUT_LAYERS = ("rpn_class_raw", "rpn_bbox_pred", "mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask")


def apply_precision(model, backbone_model, precision):
    """Run the compute-heavy layers of a built mrcnn graph under the Keras dtype policy `precision`.

    Mixed: the backbone, the FPN (fpn_*) and every layer with weights outside them (RPN conv, head
    convs) compute in float16/bfloat16 with float32 variables. The prediction layers
    (OUTPUT_LAYERS) and every weightless layer outside backbone and FPN (anchors, proposals,
    ROIAlign, sampling, detection, reshapes, losses) stay float32: box coordinates in bfloat16
    would be off by pixels. The global Keras policy is not touched. Returns the switched layer names.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"PRECISION must be one of {PRECISIONS}, got {precision!r}")
    if precision == "float32":
        return []
    backbone = {id(layer) for layer in backbone_model.layers}
    switched = []
    for layer in _all_layers(model):
        if isinstance(layer, (keras.Model, keras.layers.InputLayer)) or layer.name in OUTPUT_LAYERS:
            continue
        if id(layer) in backbone or layer.name.startswith("fpn_") or layer.weights:
            layer.dtype_policy = precision
            switched.append(layer.name)
    return switched


def loss_scaled(optimizer, precision):
    """Wrap `optimizer` in a LossScaleOptimizer for float16 (bfloat16 has float32's range: no scaling)."""
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
        yield layer
