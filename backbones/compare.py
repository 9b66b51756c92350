#!/usr/bin/env python
"""Backbone comparison (issues 8 and 20): accuracy on equal footing, what ImageNet is worth, and what each costs.

    python backbones/compare.py [--parts shapes,transfer,cost] [--backbones KEY ...] [--resume] [--quick]
                                [--out backbones/results] [--readme backbones/README.md] [--work DIR]

Parts (each row runs in a fresh subprocess; --resume reuses every row already measured under the same budget):
- shapes: every study backbone (STUDY) from random weights, with the same slim heads, schedule and budget, on a
  seeded ShapesDataset (several classes, sizes, occlusions) of --shapes-train images at --shapes-size px; COCO
  mask/box AP and AP50 on a held-out set (another seed) --shapes-evals times over the budget. The first row is the
  check that AP still rises at the end of the budget (CHECK_KEY first; the others follow).
- transfer: MobileNet v1 α0.75 and α0.25 on balloon from the ImageNet files and from random weights, the same
  config and schedule otherwise (the balloon sample's 3-stage schedule, --epochs x --steps).
- cost: per backbone, widths (slim: MobileConfig's; full: matterport's) and size (--sizes): parameters, weights MB,
  multiply-accumulates per image (mrcnn.modeling.macs: body, FPN+RPN, heads), detect() ms with every detection
  slot filled, train step ms, peak RSS, and the measured times over the compute floor (MACs / the MAC rate of one
  large matmul measured in the same process).
- balloon: the earlier balloon rows (VARIANTS, 'ablation' for samples/balloon's ablation), named by --backbones.
The parent writes <out>/<part>.json (the balloon part: results.json), the plots and each part's table into the
README between its markers. Weights and logs go to --work (default ../runs/compare beside the checkout).
"""

import argparse
import dataclasses
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "samples" / "balloon"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from bench import measure  # noqa: E402  (REPO is on sys.path)
from mrcnn.config import Config, MobileConfig  # noqa: E402
from mrcnn.engine import atomic  # noqa: E402

DEFAULT_OUT = REPO / "backbones" / "results"
DEFAULT_WORK = REPO.parent / "runs" / "compare"
PARTS = ("shapes", "transfer", "cost", "balloon")
DEFAULT_PARTS = ("shapes", "transfer", "cost")
PART_FILES = {"shapes": "shapes.json", "transfer": "transfer.json", "cost": "cost.json", "balloon": "results.json"}
README_KEYS = {"balloon": "results"}  # The balloon part keeps the markers it always had.


def markers(key):
    """(start, end) markers of a README block that compare.py writes."""
    return (f"<!-- compare:{key}:start (written by backbones/compare.py; reruns replace it) -->",
            f"<!-- compare:{key}:end -->")  # fmt: skip


TABLE_START, TABLE_END = markers("results")
# The attributes that make "widths": matterport's (Config) or the slim mobile ones (MobileConfig).
WIDTH_KEYS = (
    "TOP_DOWN_PYRAMID_SIZE",
    "RPN_CONV_CHANNELS",
    "FPN_CLASSIF_FC_LAYERS_SIZE",
    "MASK_HEAD_CHANNELS",
    "MASK_HEAD_CONVS",
)
WIDTHS = {
    "slim": {k: getattr(MobileConfig, k) for k in WIDTH_KEYS},
    "full": {k: getattr(Config, k) for k in WIDTH_KEYS},
    "balloon": {},
}  # BalloonConfig's own widths
EVAL_MIN_CONFIDENCE = 0.05


@dataclasses.dataclass(frozen=True)
class Variant:
    """One table row. epoch_scale < 1 gives a big backbone fewer epochs (stated in the table).

    The balloon ablation's rows also set `overrides` (Config attributes), `layers` (one constant-rate
    stage instead of the 3-stage schedule), `image_size` (instead of --image-size) or `anchor_factor`
    (multiplies the anchor scales).
    """

    backbone: str
    options: dict
    weights: str  # "imagenet" or "scratch"
    widths: str  # "slim" (MobileConfig), "full" (matterport) or "balloon" (BalloonConfig's)
    epoch_scale: float = 1.0
    label: str = ""
    overrides: dict = dataclasses.field(default_factory=dict)
    layers: str = None
    image_size: int = None
    anchor_factor: float = 1.0


def ablation_row(label, **changes):
    """A balloon ablation row: BalloonConfig (MobileNet v1 α0.75, ImageNet) with one change."""
    return Variant("mobilenet_v1", {"alpha": 0.75}, "imagenet", "balloon", 1.0, label, **changes)


VARIANTS = {
    "mobilenet_v1_a075": Variant(
        "mobilenet_v1", {"alpha": 0.75}, "imagenet", "slim", 1.0, "MobileNet v1 α0.75 (the mobile config)"
    ),
    "mobilenet_v1_a075_full": Variant(
        "mobilenet_v1", {"alpha": 0.75}, "imagenet", "full", 1.0, "MobileNet v1 α0.75, matterport widths"
    ),
    "mobilenet_v1_a025": Variant("mobilenet_v1", {"alpha": 0.25}, "imagenet", "slim", 1.0, "MobileNet v1 α0.25"),
    "mobilenet_v2": Variant("mobilenet_v2", {"alpha": 1.0}, "scratch", "slim", 1.0, "MobileNetV2 α1.0"),
    "resnet50": Variant("resnet50", {}, "scratch", "slim", 0.5, "ResNet-50"),
    "resnet101": Variant("resnet101", {}, "scratch", "slim", 0.5, "ResNet-101"),
}
# samples/balloon's ablation: one change per row from BalloonConfig, the same budget for each.
ABLATION = {
    "base": ablation_row("BalloonConfig as is"),
    "anchors_x2": ablation_row("RPN_ANCHOR_SCALES ×2", anchor_factor=2.0),
    "anchors_half": ablation_row("RPN_ANCHOR_SCALES ÷2", anchor_factor=0.5),
    "rois_32": ablation_row("TRAIN_ROIS_PER_IMAGE 32", overrides={"TRAIN_ROIS_PER_IMAGE": 32}),
    "size_384": ablation_row("IMAGE_MAX_DIM 384", image_size=384),
    "size_768": ablation_row("IMAGE_MAX_DIM 768", image_size=768),
    "heads_only": ablation_row('layers="heads" only', layers="heads"),
    "copy_paste": ablation_row("COPY_PASTE_PROB 0.5", overrides={"COPY_PASTE_PROB": 0.5}),
}
ABLATION_ROWS = {f"ablation_{name}": row for name, row in ABLATION.items()}
GROUPS = {"ablation": list(ABLATION_ROWS)}
DEFAULT_VARIANTS = (
    "resnet101",
    "resnet50",
    "mobilenet_v1_a075_full",
    "mobilenet_v1_a075",
    "mobilenet_v1_a025",
    "mobilenet_v2",
)
# The study's backbones (shapes and cost parts): random init, slim widths unless a cost row says otherwise.
STUDY = {
    key: Variant(backbone, options, "scratch", "slim", 1.0, label)
    for key, backbone, options, label in (
        ("resnet101", "resnet101", {}, "ResNet-101"),
        ("resnet50", "resnet50", {}, "ResNet-50"),
        ("mobilenet_v1_a075", "mobilenet_v1", {"alpha": 0.75}, "MobileNet v1 α0.75"),
        ("mobilenet_v1_a025", "mobilenet_v1", {"alpha": 0.25}, "MobileNet v1 α0.25"),
        ("mobilenet_v2", "mobilenet_v2", {"alpha": 1.0}, "MobileNetV2 α1.0"),
        ("mobilenet_v3", "mobilenet_v3", {"size": "large"}, "MobileNetV3-Large"),
    )
}
CHECK_KEY = "mobilenet_v1_a075"  # The mobile config's body: trained first, its AP curve is the budget check.
INITS = {"imagenet": "ImageNet", "scratch": "random init"}
# The transfer rows: the two bodies with an ImageNet file here, from it and from random weights.
TRANSFER = {
    key: {init: f"transfer_{key}_{init}" for init in INITS} for key in ("mobilenet_v1_a075", "mobilenet_v1_a025")
}
TRANSFER_ROWS = {
    name: dataclasses.replace(STUDY[key], weights=init, label=f"{STUDY[key].label}, {INITS[init]}")
    for key, names in TRANSFER.items()
    for init, name in names.items()
}
COST_WIDTHS = ("slim", "full")
QUICK_BACKBONES = ("mobilenet_v1_a025",)  # Has an ImageNet file, so --quick runs a transfer row too.
QUICK_VARIANTS = ("mobilenet_v2",)  # --quick --parts balloon


class CompareError(RuntimeError):
    """The study cannot run as asked (bad option, missing tool or data)."""


# ---- plan ------------------------------------------------------------------------------------------


def resolve_variant(name):
    """A Variant for a balloon row name, or for any registered backbone name (scratch, slim widths)."""
    for rows in (VARIANTS, ABLATION_ROWS, TRANSFER_ROWS):
        if name in rows:
            return rows[name]
    from mrcnn.backbones import list_backbones

    if name in list_backbones():
        return Variant(name, {}, "scratch", "slim", 1.0, name)
    raise CompareError(
        f"--backbones: unknown name {name!r}; use one of {', '.join(VARIANTS)} "
        f"or a registered backbone ({', '.join(list_backbones())})"
    )


def study_variant(key):
    """The study Variant for a STUDY key or any registered backbone name (random init, slim widths)."""
    from mrcnn.backbones import list_backbones

    if key in STUDY:
        return STUDY[key]
    if key in list_backbones():
        return Variant(key, {}, "scratch", "slim", 1.0, key)
    raise CompareError(
        f"--backbones: {key!r} is not a study backbone; use {', '.join(STUDY)} or a registered backbone "
        f"({', '.join(list_backbones())}); balloon rows ({', '.join(VARIANTS)}, ablation) need --parts balloon"
    )


def cost_name(key, widths, size):
    return f"cost_{key}_{widths}_{size}"


def parse_cost_name(name):
    """(study key, widths, size) of a cost row name."""
    key, widths, size = name.removeprefix("cost_").rsplit("_", 2)
    return key, widths, int(size)


def row_kind(name):
    """ "shapes", "cost" or "balloon" (balloon-trained rows: VARIANTS, ablation, transfer)."""
    return next((kind for kind in ("shapes", "cost") if name.startswith(f"{kind}_")), "balloon")


def variant_epochs(variant, epochs):
    """Epochs for this variant: `epochs` scaled by its epoch_scale, at least 1."""
    return max(1, round(epochs * variant.epoch_scale))


def row_image_size(variant, args):
    """The training/evaluation size of a row: its own (ablation) or --image-size."""
    return variant.image_size or args.image_size


# The input size BalloonConfig's RPN_ANCHOR_SCALES were chosen at (its bundled model runs at 1024 with the same scales).
ANCHOR_REFERENCE_SIZE = 512


def study_config(variant, image_size, steps, inference=False, min_confidence=None):
    """BalloonConfig with the variant's backbone, options, widths and overrides at `image_size` px.

    Scratch backbones train their BatchNorm (TRAIN_BN=True): frozen BN at its initial statistics
    normalises nothing. Anchor scales follow the image size (BalloonConfig's scales were chosen at
    ANCHOR_REFERENCE_SIZE px) and the variant's anchor_factor. Copy-paste is off unless a row turns it on: the
    study's tables were measured before BalloonConfig had it.
    """
    from balloon import BalloonConfig

    scale = image_size / ANCHOR_REFERENCE_SIZE * variant.anchor_factor
    overrides = dict(
        NAME=f"compare_{variant.backbone}",
        BACKBONE=variant.backbone,
        BACKBONE_OPTIONS=dict(variant.options),
        IMAGE_MIN_DIM=image_size,
        IMAGE_MAX_DIM=image_size,
        STEPS_PER_EPOCH=steps,
        TRAIN_BN=variant.weights == "scratch",
        COPY_PASTE_PROB=0.0,
        **WIDTHS[variant.widths],
        RPN_ANCHOR_SCALES=tuple(max(4, round(s * scale)) for s in BalloonConfig.RPN_ANCHOR_SCALES),
    )
    overrides.update(variant.overrides)
    if inference:
        overrides.update(GPU_COUNT=1, IMAGES_PER_GPU=1)
    if min_confidence is not None:
        overrides["DETECTION_MIN_CONFIDENCE"] = min_confidence
    return BalloonConfig(**overrides)


# The shapes task: at SHAPES_REFERENCE_SIZE px, objects 16-128 px wide (half-sizes 8-64), up to 4 per image.
SHAPES_REFERENCE_SIZE = 256
SHAPES_ANCHOR_SCALES = (16, 32, 64, 128, 256)
SHAPES_MAX_SHAPES = 4
SHAPES_LEARNING_RATE = 0.01
SHAPES_VAL_SEED = 1000  # Added to --seed: the held-out images are drawn with another seed.
RISE_MARGIN = 0.01  # Mask AP gained over the last evaluation interval that counts as "still rising".


def shapes_config(variant, image_size, steps, inference=False, **overrides):
    """MobileConfig (its ROI counts) with the variant's backbone, options and widths, for 3 shapes at `image_size`.

    Batch 2 for training, 1 for inference; BatchNorm trains for random-init bodies; anchor scales follow the
    image size (SHAPES_ANCHOR_SCALES at SHAPES_REFERENCE_SIZE); float32 on every machine ("auto" would pick
    bfloat16 inference on CPUs that have it, and the compute floor is a float32 matmul); `overrides`: further
    Config attributes.
    """
    from mrcnn.datasets.shapes import SHAPES

    scale = image_size / SHAPES_REFERENCE_SIZE
    values = dict(
        NAME=f"shapes_{variant.backbone}",
        NUM_CLASSES=1 + len(SHAPES),
        BACKBONE=variant.backbone,
        BACKBONE_OPTIONS=dict(variant.options),
        IMAGE_MIN_DIM=image_size,
        IMAGE_MAX_DIM=image_size,
        IMAGES_PER_GPU=1 if inference else 2,
        STEPS_PER_EPOCH=steps,
        LEARNING_RATE=SHAPES_LEARNING_RATE,
        TRAIN_BN=variant.weights == "scratch",
        PRECISION="float32",
        RPN_ANCHOR_SCALES=tuple(max(4, round(s * scale)) for s in SHAPES_ANCHOR_SCALES),
        **WIDTHS[variant.widths],
    )
    values.update(overrides)
    return MobileConfig(**values)


# ---- one row (runs in its own subprocess) ----------------------------------------------------------


def rss_mb():
    """Peak RSS of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_timer():
    """A Keras callback recording each training batch's wall time (ms) under `callback.stage`, and the epoch losses."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stage, self.times, self.losses, self._start = None, {}, [], None

        def on_epoch_end(self, epoch, logs=None):
            if logs and "loss" in logs:
                self.losses.append({"epoch": epoch + 1, "loss": float(logs["loss"])})

        def on_train_batch_begin(self, batch, logs=None):
            self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.times.setdefault(self.stage, []).append((time.perf_counter() - self._start) * 1000)

    return StepTimer()


def load_data(dataset_dir, limit):
    """(train, val) balloon datasets, each cut to its first `limit` images if limit."""
    from balloon import load_balloon

    from mrcnn.cli.sample import limit_dataset

    return [limit_dataset(load_balloon(dataset_dir, subset), limit) for subset in ("train", "val")]


def row_stages(variant, args, learning_rate):
    """[(last epoch, layers, rate)]: sample_cli's 3-stage schedule, or from --init one stage at lr/5
    (all layers unless the row trains only its own `layers`)."""
    from mrcnn.engine.recipe import default_schedule

    epochs = variant_epochs(variant, args.epochs)
    if args.init:
        return [(epochs, variant.layers or "all", learning_rate / 5)]
    stages = default_schedule(epochs, learning_rate, None, variant.layers)
    return [(s.last_epoch, s.layers, s.learning_rate) for s in stages]


def train_variant(variant, args, train_set, folder):
    """Train with sample_cli.training_stages → (weights path, {stage: [ms per batch]}, seconds, images seen)."""
    from mrcnn.model import MaskRCNN

    config = study_config(variant, row_image_size(variant, args), args.steps)
    model = MaskRCNN("training", config, str(folder / "logs"))
    if args.init:  # One fixed starting point for every row; count epochs from 0 in a fresh log dir.
        model.load_weights(args.init, by_name=True)
        model.set_log_dir()
    elif variant.weights == "imagenet":
        model.load_weights(model.get_imagenet_weights(), by_name=True)
    timer = step_timer()
    started = time.perf_counter()
    for last_epoch, layers, rate in row_stages(variant, args, config.LEARNING_RATE):
        timer.stage = f"{layers}@{rate:g}"
        model.train(train_set, None, learning_rate=rate, epochs=last_epoch, layers=layers, custom_callbacks=[timer])
    seconds = time.perf_counter() - started
    weights = folder / f"{args.child}.h5"
    model.save_weights(str(weights))
    for checkpoint in Path(model.log_dir).glob("*.h5"):  # Keep only the final weights file.
        checkpoint.unlink()
    images_seen = config.BATCH_SIZE * sum(len(values) for values in timer.times.values())
    return weights, timer.times, seconds, images_seen


def evaluate_variant(variant, args, weights, val_set):
    """(COCO results at the training size, inference params count)."""
    from mrcnn.evaluation.coco import evaluate_coco

    config = study_config(variant, row_image_size(variant, args), args.steps, True, EVAL_MIN_CONFIDENCE)
    model = measure.inference_model(config, weights)
    params = int(model.keras_model.count_params())
    results = evaluate_coco(model, val_set, verbose=False)
    del model
    measure.free_memory()
    return results, params


def time_variant(variant, args, weights, image):
    """{size: {"ms", "detections"}}: detect() at the deployment threshold (BalloonConfig's 0.5)."""
    timings = {}
    for size in args.sizes:
        model = measure.inference_model(study_config(variant, size, args.steps, inference=True), weights)
        times, (result,) = measure.timed(args.runs, args.warmup, model.detect, [image])
        timings[str(size)] = {"ms": statistics.median(times), "detections": len(result["class_ids"])}
        del model
        measure.free_memory()
    return timings


def _steady(values):
    """Batch times without the first (tracing) batch of a stage, unless it is the only one."""
    return values[1:] or values


def summarise_steps(times):
    """{stage: {"median_ms", "steps"}} from {stage: [ms per batch]}, tracing batch left out."""
    return {stage: {"median_ms": statistics.median(_steady(v)), "steps": len(v)} for stage, v in times.items()}


def train_step_ms(times):
    """Median batch time over the all-layers stages (the heads stage if there is none), tracing left out."""
    chosen = [v for stage, v in times.items() if stage.startswith("all@")] or list(times.values())
    return statistics.median([t for values in chosen for t in _steady(values)])


def coco_summary(results):
    """The AP figures the table shows, from evaluate_coco's dict."""
    return {
        "mask_AP50": results["segm"]["AP50"],
        "mask_AP": results["segm"]["AP"],
        "box_AP50": results["bbox"]["AP50"],
        "box_AP": results["bbox"]["AP"],
        "mAP50_compute_ap": results["mAP50_compute_ap"],
        "eval_detections": results["num_detections"],
        "eval_images": results["num_images"],
    }


def run_variant(args):
    """Everything measured for the variant `args.child`, in this process; returns a JSON-able dict."""
    import keras

    keras.utils.set_random_seed(args.seed)
    variant = resolve_variant(args.child)
    folder = Path(args.work) / args.child
    folder.mkdir(parents=True, exist_ok=True)
    train_set, val_set = load_data(args.dataset, args.limit)
    weights, times, train_seconds, images_seen = train_variant(variant, args, train_set, folder)
    rss_train = rss_mb()
    measure.free_memory()
    results, params = evaluate_variant(variant, args, weights, val_set)
    image = val_set.load_image(val_set.image_ids[0])
    reference = measure_reference(args.quick, print)  # In a grandchild: this process's RSS stays its own.
    row = {
        "name": args.child,
        **dataclasses.asdict(variant),
        "budget": budget_key(args),
        "epochs": variant_epochs(variant, args.epochs),
        "images_seen": images_seen,
        "params": params,
        "weights_file": str(weights),
        "weights_mb": weights.stat().st_size / 2**20,
        "train_seconds": train_seconds,
        "train_steps": summarise_steps(times),
        "train_step_ms": train_step_ms(times),
        "reference_ms": reference,
        "detect": time_variant(variant, args, weights, image),
        "timing_image_shape": list(image.shape),
        **coco_summary(results),
        "coco": results,
        "rss_after_training_mb": rss_train,
    }
    row["peak_rss_mb"] = rss_mb()
    return timing_ratios(row, reference)


def shapes_datasets(args):
    """(train, held-out) ShapesDataset at --shapes-size: --shapes-train and --shapes-val images, seeded apart."""
    from mrcnn.datasets import ShapesDataset

    size, sets = args.shapes_size, []
    for count, seed in ((args.shapes_train, args.seed), (args.shapes_val, args.seed + SHAPES_VAL_SEED)):
        dataset = ShapesDataset()
        half_sizes = (max(4, size // 32), size // 4)
        dataset.load_shapes(count, size, size, seed=seed, max_shapes=SHAPES_MAX_SHAPES, size_range=half_sizes)
        dataset.prepare()
        sets.append(dataset)
    return sets


def shapes_stages(epochs, learning_rate):
    """[(last epoch, layers, rate)]: all layers from the start (no pretrained body to protect), the last 15% at
    lr/10."""
    drop = max(1, round(0.85 * epochs))
    return [(drop, "all", learning_rate)] + ([(epochs, "all", learning_rate / 10)] if epochs > drop else [])


def shapes_curve(scores, steps, batch):
    """EvalCheckpoint's scores, each with the images seen when it was taken."""
    return [{**score, "images_seen": score["epoch"] * steps * batch} for score in scores]


def run_shapes_row(args, key, folder):
    """Train the study backbone `key` from random weights on shapes, scoring the held-out set along the way."""
    from mrcnn.engine.best_model import EvalCheckpoint, coco_evaluation
    from mrcnn.model import MaskRCNN

    variant = study_variant(key)
    train_set, val_set = shapes_datasets(args)
    config = shapes_config(variant, args.shapes_size, args.shapes_steps)
    model = MaskRCNN("training", config, str(folder / "logs"))
    coco, evaluations = coco_evaluation(EVAL_MIN_CONFIDENCE), []

    def evaluate(path, dataset):  # Keeps the full COCO results of every evaluation, not only the four APs.
        evaluations.append(coco(path, dataset))
        return evaluations[-1]

    every = max(1, args.shapes_epochs // args.shapes_evals)
    checkpoint = EvalCheckpoint(model, val_set, str(folder), every=every, evaluate=evaluate)
    timer = step_timer()
    started = time.perf_counter()
    for last_epoch, layers, rate in shapes_stages(args.shapes_epochs, SHAPES_LEARNING_RATE):
        timer.stage = f"{layers}@{rate:g}"
        model.train(train_set, None, rate, last_epoch, layers, custom_callbacks=[timer, checkpoint])
    seconds = time.perf_counter() - started
    for checkpoint_file in [*Path(model.log_dir).glob("*.h5"), folder / "best.h5"]:  # last.h5 is the result.
        checkpoint_file.unlink(missing_ok=True)
    weights = folder / "last.h5"
    return {
        "name": f"shapes_{key}",
        "key": key,
        **dataclasses.asdict(variant),
        "budget": budget_key(args, "shapes"),
        "epochs": args.shapes_epochs,
        "images_seen": config.BATCH_SIZE * sum(len(values) for values in timer.times.values()),
        "params": int(model.keras_model.count_params()),
        "weights_file": str(weights),
        "weights_mb": weights.stat().st_size / 2**20,
        "train_seconds": seconds,
        "train_steps": summarise_steps(timer.times),
        "train_step_ms": train_step_ms(timer.times),
        "losses": timer.losses,
        "curve": shapes_curve(checkpoint.scores, args.shapes_steps, config.BATCH_SIZE),
        **coco_summary(evaluations[-1]),
        "coco": evaluations[-1],
        "peak_rss_mb": rss_mb(),
    }


MATMUL_SIZE = 2048


def mac_rate(quick):
    """Multiply-accumulates per second of this process on one large float32 matmul (n×n by n×n, n = MATMUL_SIZE).

    The fastest of 5 after a warm-up (a floor takes the best the CPU does; other jobs only slow a run down);
    the compute floor of a network is its MACs over this rate.
    """
    import numpy as np
    from keras import ops

    n = 256 if quick else MATMUL_SIZE
    a = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
    times, _ = measure.timed(1 if quick else 5, 1, lambda: ops.convert_to_numpy(ops.matmul(a, a)))
    return n**3 / (min(times) / 1000)


def section_macs(counts):
    """The MAC totals of mask_rcnn_macs (its per-layer list left out)."""
    return {key: value for key, value in counts.items() if key != "layers"}


def run_cost_cell(args, name, folder):
    """Cost of one (backbone, widths, size): built with random weights, as in bench/ (box deltas zeroed and
    DETECTION_MIN_CONFIDENCE 0, per class, so every detection slot is filled and the mask head runs on the
    DETECTION_MAX_INSTANCES ROIs that the MAC count assumes)."""
    from bench import bench
    from mrcnn.engine import training
    from mrcnn.model import MaskRCNN
    from mrcnn.modeling.macs import mask_rcnn_macs

    key, widths, size = parse_cost_name(name)
    variant = dataclasses.replace(study_variant(key), widths=widths)
    rate = mac_rate(args.quick)
    config = shapes_config(variant, size, 1, inference=True, DETECTION_MIN_CONFIDENCE=0.0, DETECTION_PER_CLASS=True)
    model = measure.inference_model(config)
    bench.zero_box_deltas(model.keras_model)
    macs = section_macs(mask_rcnn_macs(model))
    weights = folder / f"{name}.h5"
    model.save_weights(str(weights))
    weights_mb = weights.stat().st_size / 2**20
    weights.unlink()
    params = int(model.keras_model.count_params())
    detect = measure.time_detect(model, [bench.bench_image()], args.runs, args.warmup)
    del model
    measure.free_memory()
    config = shapes_config(variant, size, 1)
    model = MaskRCNN("training", config, str(folder / "logs"))
    train_macs = section_macs(mask_rcnn_macs(model))
    model.set_trainable(training.layers_pattern("all", model.backbone), verbose=0)
    optimizer = training.make_optimizer(config, config.LEARNING_RATE)
    model.keras_model.compile(optimizer=optimizer, jit_compile=bool(config.JIT_COMPILE))
    times, _ = measure.timed(args.train_runs, 1, model.keras_model.train_on_batch, bench.train_batch(config))
    step_ms = statistics.median(times)
    floor_ms = macs["total"] / rate * 1000
    # Training: forward MACs of the training graph, and about twice as many for the backward pass.
    train_floor_ms = 3 * train_macs["total"] * config.BATCH_SIZE / rate * 1000
    return {
        "name": name,
        "key": key,
        **dataclasses.asdict(variant),
        "size": size,
        "budget": budget_key(args, "cost"),
        "params": params,
        "weights_mb": weights_mb,
        "macs": macs,
        "train_macs": train_macs,
        "mac_rate_gmacs": rate / 1e9,
        "detect": {str(size): detect},
        "floor_ms": floor_ms,
        "network_x_floor": detect["network_ms"] / floor_ms,
        "train_step_ms": step_ms,
        "train_batch": config.BATCH_SIZE,
        "train_floor_ms": train_floor_ms,
        "train_x_floor": step_ms / train_floor_ms,
        "peak_rss_mb": rss_mb(),
    }


def run_row(args):
    """The row `args.child` measured in this process (a balloon, shapes or cost row): a JSON-able dict."""
    kind = row_kind(args.child)
    if kind == "balloon":
        return run_variant(args)
    import keras

    keras.utils.set_random_seed(args.seed)
    folder = Path(args.work) / args.child
    folder.mkdir(parents=True, exist_ok=True)
    if kind == "shapes":
        return run_shapes_row(args, args.child.removeprefix("shapes_"), folder)
    return run_cost_cell(args, args.child, folder)


# ---- parent: subprocesses, reference, report -------------------------------------------------------


def write_json(path, data):
    """Write `data` to `path` atomically; anything JSON cannot hold (paths) is written as its str()."""
    atomic.write_json(path, data, default=str)


# The options a child process is given (from the parent's arguments), and what each kind of row depends on.
CHILD_OPTIONS = (
    "epochs", "steps", "image_size", "sizes", "runs", "warmup", "limit", "dataset", "work", "seed", "init",
    "shapes_train", "shapes_val", "shapes_size", "shapes_epochs", "shapes_steps", "shapes_evals", "train_runs",
)  # fmt: skip
BUDGET_KEYS = {
    "balloon": ("epochs", "steps", "image_size", "sizes", "runs", "warmup", "limit", "seed", "dataset", "init"),
    "shapes": ("shapes_train", "shapes_val", "shapes_size", "shapes_epochs", "shapes_steps", "shapes_evals", "seed"),
    "cost": ("runs", "warmup", "train_runs", "quick"),
}


def row_args(args, name):
    """The arguments row `name` runs with: the parent's, with a transfer row timed at its training size only
    (the cost part times every backbone at every size)."""
    return argparse.Namespace(**{**vars(args), "sizes": [args.image_size]}) if name in TRANSFER_ROWS else args


def child_argv(args, name, result_path):
    """Command line re-running this script for one row, with the parent's budget."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--child-result", str(result_path)]
    for key in CHILD_OPTIONS:
        value = getattr(args, key)
        if value is not None:
            argv += [f"--{key.replace('_', '-')}", ",".join(map(str, value)) if isinstance(value, list) else str(value)]
    return argv + (["--quick"] if args.quick else [])


def run_child(argv, log_path):
    """Run argv with its output to log_path; returns (exit code, seconds)."""
    started = time.perf_counter()
    with open(log_path, "w") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO), check=False).returncode
    return code, time.perf_counter() - started


def budget_key(args, kind="balloon"):
    """What a row of this kind depends on; --resume reuses a stored row only if this matches."""
    return {key: getattr(args, key) for key in BUDGET_KEYS[kind]}


def stored_row(args, result_path, kind="balloon"):
    """The row in result_path if --resume and it was measured under the same budget, else None."""
    if not args.resume or not result_path.is_file():
        return None
    row = json.loads(result_path.read_text())
    return row if row.get("budget") == json.loads(json.dumps(budget_key(args, kind))) else None


def tail(path, lines=15):
    text = Path(path).read_text(errors="replace").replace("\r", "\n").splitlines()
    return "\n".join(line for line in text[-lines:])


def describe_row(name):
    """What a row is (its Variant's fields and name), for the row of a run that failed."""
    kind = row_kind(name)
    if kind == "balloon":
        return {"name": name, **dataclasses.asdict(resolve_variant(name))}
    if kind == "shapes":
        key = name.removeprefix("shapes_")
        return {"name": name, "key": key, **dataclasses.asdict(study_variant(key))}
    key, widths, size = parse_cost_name(name)
    variant = dataclasses.replace(study_variant(key), widths=widths)
    return {"name": name, "key": key, **dataclasses.asdict(variant), "size": size}


def measure_row(args, name, log, extra=None):
    """One row in a fresh subprocess → its row dict (with "error" if it failed); `extra` is stored with a row
    measured now (a reused row keeps what it was stored with)."""
    args = row_args(args, name)
    folder = Path(args.work) / name
    folder.mkdir(parents=True, exist_ok=True)
    result_path, log_path = folder / "result.json", folder / "run.log"
    row = stored_row(args, result_path, row_kind(name))
    if row is not None:
        log(f"{name}: reusing {result_path} (--resume, same budget)")
        return row
    result_path.unlink(missing_ok=True)
    log(f"{name}: measuring in a subprocess (log: {log_path}) ...")
    load_before = os.getloadavg()[0]
    code, seconds = run_child(child_argv(args, name, result_path), log_path)
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    if code != 0 or not result_path.is_file():
        log(f"{name}: FAILED (exit {code}); last lines of {log_path}:\n{tail(log_path)}")
        return {
            **describe_row(name),
            "error": f"exit {code}: {tail(log_path, 3)}",
            "wall_seconds": seconds,
            "load_average_start_end": load,
        }
    row = json.loads(result_path.read_text())
    row.update(wall_seconds=seconds, load_average_start_end=load, **(extra or {}))
    write_json(result_path, row)
    log(f"{name}: done in {seconds:.0f} s")
    return row


def measure_reference(quick, log):
    """reference_ms() in a fresh subprocess (ResNet101 forward, 1x512x512x3), in ms."""
    measure.check_reference_tool(CompareError)
    runs, warmup = (1, 0) if quick else (7, 2)
    code = (
        f"import sys; sys.path.insert(0, {str(measure.TOOLS)!r}); from reference_ms import reference_ms; "
        f"print('reference_ms', reference_ms(runs={runs}, warmup={warmup}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("reference_ms ")]
    if done.returncode != 0 or not lines:
        raise CompareError(f"reference_ms failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    value = float(lines[-1].split()[1])
    log(f"reference_ms {value:.1f}")
    return value


def timing_ratios(row, ref):
    """Add x_ref beside each timing of a row (detect per size, train step), in place; returns the row."""
    row.update(measure.add_ratios({key: row[key] for key in ("detect", "train_step_ms") if key in row}, ref))
    return row


def budget_text(args):
    """One paragraph stating the budget every row got."""
    schedule = (
        f"every row starts from `--init {args.init}` and trains one stage at lr/5 (all layers "
        f"unless the row says otherwise; SGD, 100 warm-up steps)"
        if args.init
        else "sample_cli.training_stages' 3-stage schedule (heads 20% at lr, all at lr/5, last 15% all at lr/50; "
        "lr 0.01 SGD, 100 warm-up steps per stage)"
    )
    return (
        f"Budget: {args.steps} steps of batch 2 per epoch ({2 * args.steps} images), `--epochs {args.epochs}` "
        f"for every row except those marked with fewer epochs; {schedule}; "
        f"training and evaluation at {args.image_size}² "
        f"(BalloonConfig's anchor scales × {args.image_size}/IMAGE_MAX_DIM); "
        f"evaluation on balloon val ({args.limit or 13} images) at DETECTION_MIN_CONFIDENCE {EVAL_MIN_CONFIDENCE}."
    )


def conditions_text(result, image_shape):
    """How the timing and memory columns were measured."""
    image = f"{image_shape[1]}×{image_shape[0]} px" if image_shape else "?"
    return (
        f"detect(): one balloon val image ({image}) resized to each size, batch 1, BalloonConfig's "
        f"DETECTION_MIN_CONFIDENCE 0.5, median of {result['runs']} runs after {result['warmup']} warm-ups "
        "(the detections kept are in results.json). Train step: median wall time of one batch of 2 in the "
        "all-layers stages, first batch of each stage left out. Peak RSS: maxrss of the row's subprocess "
        "(training, evaluation, timing; the reference runs in a process of its own). × ref: multiple of the "
        "row's reference below."
    )


def _fmt(value, spec=".3f"):
    return "–" if value is None else format(value, spec)


def _timing_cell(timing):
    return f"{timing['ms']:.0f} ({timing['x_ref']:.2f}×)" if timing else "–"


def table_row(row, sizes, base_epochs):
    """One markdown row; a failed variant shows its error; fewer epochs than base_epochs are marked."""
    init = "--init" if row.get("budget", {}).get("init") else "ImageNet" if row["weights"] == "imagenet" else "scratch"
    head = [row["name"], row["label"] or row["backbone"], init, row["widths"]]
    if "error" in row:
        error = row["error"].replace("\n", " ").replace("|", "/")[:80]
        return "| " + " | ".join(head + [f"failed: {error}"] + ["–"] * (len(sizes) + 8)) + " |"
    epochs = f"{row['epochs']} ({row['images_seen']})" + (" **fewer**" if row["epochs"] < base_epochs else "")
    cells = [epochs, f"{row['params'] / 1e6:.2f}", f"{row['weights_mb']:.1f}"]
    cells += [_timing_cell(row["detect"].get(str(s))) for s in sizes]
    cells += [f"{row['train_step_ms'] / 1000:.2f} ({row['train_step_x_ref']:.1f}×)", f"{row['peak_rss_mb']:.0f}"]
    cells += [_fmt(row[k]) for k in ("mask_AP50", "mask_AP", "box_AP50", "box_AP")]
    return "| " + " | ".join(head + cells) + " |"


def markdown_table(result):
    """The results table with its budget and reference lines."""
    sizes = result["sizes"]
    head = (
        ["row", "backbone", "init", "widths", "epochs (images seen)", "params (M)", "weights MB"]
        + [f"detect {s}² ms (× ref)" for s in sizes]
        + ["train step s (× ref)", "peak RSS MB", "mask AP50", "mask AP", "box AP50", "box AP"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += [table_row(row, sizes, result["epochs"]) for row in result["rows"]]
    image = next((r["timing_image_shape"] for r in result["rows"] if "timing_image_shape" in r), None)
    refs = ", ".join(f"{r['reference_ms']:.0f}" for r in result["rows"] if "reference_ms" in r)
    loads = ", ".join(f"{r['load_average_start_end'][0]:.1f}" for r in result["rows"])
    lines += [
        "",
        result["budget"],
        "",
        conditions_text(result, image),
        "",
        f"Reference (ResNet101 forward 1×512², median of 7, measured in each row's run just before its "
        f"detect() timings; every × ref uses its own row's): {refs} ms. "
        f"Wall time: the rows' subprocesses took {result['rows_seconds'] / 60:.1f} min in all "
        f"(this invocation {result['seconds'] / 60:.1f} min; rows reused with --resume keep their own time) "
        f"on {result['machine']['cpu_count']} CPU cores, {result['date']}; 1-minute load average at each "
        f"row's start: {loads} "
        "(2.0 = both cores busy; more means other jobs shared the CPU)."
        + (" **--quick run: the numbers mean nothing.**" if result["quick"] else ""),
    ]
    return "\n".join(lines)


def plot(result, path):
    """speed_vs_ap.png: detect ms at the first timing size (log x) vs mask and box AP50."""
    import matplotlib.ticker

    plt = _pyplot()
    size = str(result["sizes"][0])
    rows = [r for r in result["rows"] if "error" not in r and r["mask_AP50"] is not None]
    fig, ax = plt.subplots(figsize=(8, 5))
    for row in rows:
        x = row["detect"][size]["ms"]
        ax.scatter(x, row["mask_AP50"], color="tab:blue", marker="o", s=60)
        ax.scatter(x, row["box_AP50"], facecolors="none", edgecolors="tab:orange", marker="s", s=60)
        ax.annotate(row["name"], (x, row["mask_AP50"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.scatter([], [], color="tab:blue", marker="o", label="mask AP50")
    ax.scatter([], [], facecolors="none", edgecolors="tab:orange", marker="s", label="box AP50")
    if rows:
        ax.set_xscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:.0f}")
        ax.xaxis.set_major_formatter(plain)
        ax.xaxis.set_minor_formatter(plain)
        ax.tick_params(axis="x", which="minor", labelsize=7)
    else:
        ax.text(0.5, 0.5, "no row finished", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"detect() ms per image at {size}² (median; reference ≈ {_fmt(result['reference_ms'], '.0f')} ms)")
    ax.set_ylabel("balloon val AP50")
    ax.set_ylim(-0.02, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    ax.set_title(
        f"Backbones on balloon: speed vs accuracy ({result['image_size']}², {result['machine']['cpu_count']} CPU cores)"
    )
    fig.tight_layout()
    _save(fig, path)


def shapes_budget_text(args):
    """One paragraph stating the shapes part's task and budget."""
    every = max(1, args.shapes_epochs // args.shapes_evals)
    images = 2 * args.shapes_steps * args.shapes_epochs
    slim = ", ".join(f"{key} {value}" for key, value in WIDTHS["slim"].items())
    return (
        f"Shapes budget: every row starts from random weights (BatchNorm trained) with the same slim heads ({slim}) "
        f"and trains all layers for {args.shapes_epochs} epochs × {args.shapes_steps} steps of batch 2 "
        f"({images} images) on {args.shapes_train} seeded ShapesDataset images at {args.shapes_size}² "
        f"(3 classes, 1–{SHAPES_MAX_SHAPES} shapes per image, occluding, {max(4, args.shapes_size // 32) * 2}–"
        f"{args.shapes_size // 2} px), at lr {SHAPES_LEARNING_RATE} (SGD, 100 warm-up steps) and lr/10 for the "
        f"last 15%; anchors {SHAPES_ANCHOR_SCALES} × {args.shapes_size}/{SHAPES_REFERENCE_SIZE}. Held out: "
        f"{args.shapes_val} images drawn with another seed, scored (COCO, DETECTION_MIN_CONFIDENCE "
        f"{EVAL_MIN_CONFIDENCE}) every {every} epochs and at the end."
    )


def check_text(check):
    """The budget check in one sentence."""
    if check["gain"] is None:
        return f"Budget check ({check['row']}): only one evaluation, so no trend."
    verdict = (
        "still rising: the budget ends before the plateau, so the table ranks how fast each body learns"
        if check["rising"]
        else f"flat (within {RISE_MARGIN}): the budget reaches the plateau"
    )
    return (
        f"Budget check ({check['row']}): mask AP {check['gain']:+.3f} from {check['from_images']} to "
        f"{check['to_images']} images seen, {verdict}."
    )


def _curve_cell(curve):
    return " → ".join(f"{point['val_mask_AP']:.3f}" for point in curve) or "–"


def shapes_table(result):
    """The shapes part's table, its budget and its check."""
    head = ["row", "backbone", "params (M)", "train step s", "images seen", "mask AP50", "mask AP", "box AP50"]
    head += ["box AP", "mask AP at each evaluation", "last epoch loss"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["rows"]:
        if "error" in row:
            error = row["error"].replace("\n", " ").replace("|", "/")[:80]
            lines.append(f"| {row['name']} | {row['label']} | failed: {error} |" + " – |" * (len(head) - 3))
            continue
        cells = [row["name"], row["label"], f"{row['params'] / 1e6:.2f}", f"{row['train_step_ms'] / 1000:.2f}"]
        cells += [str(row["images_seen"])] + [_fmt(row[k]) for k in ("mask_AP50", "mask_AP", "box_AP50", "box_AP")]
        cells += [_curve_cell(row["curve"]), _fmt(row["losses"][-1]["loss"] if row["losses"] else None, ".2f")]
        lines.append("| " + " | ".join(cells) + " |")
    points = next((row["curve"] for row in result["rows"] if row.get("curve")), [])
    seen = ", ".join(str(point["images_seen"]) for point in points)
    lines += ["", result["budget"], "", check_text(result["check"]), ""]
    lines += [
        f"The evaluations were taken at {seen} images seen. Train step: median wall time of one batch of 2, the "
        f"first batch of each stage left out. Wall time: {result['rows_seconds'] / 60:.1f} min for the rows "
        f"on {result['machine']['cpu_count']} CPU cores, {result['date']}."
        + (" **--quick run: the numbers mean nothing.**" if result["quick"] else "")
    ]
    return "\n".join(lines)


def cost_conditions(args):
    """How the cost part measures, in one paragraph."""
    return (
        "Cost: each cell built with random weights (the shapes config: MobileConfig's ROI counts, 3 classes) "
        "with its widths at its size. detect(): one 768×1024 random image (bench/'s), box deltas zeroed and "
        "DETECTION_MIN_CONFIDENCE 0 per class, so every detection slot is filled and the mask head runs on as "
        f"many ROIs as the MAC count assumes; median of {args.runs} runs after {args.warmup} warm-ups; network ms "
        "is its Keras part (without mold/unmold). Train step: train_on_batch on a batch of 2 at the cell's size, "
        f"all layers, median of {args.train_runs} after one. Floor: MACs over the MAC rate of one {MATMUL_SIZE}² "
        "float32 matmul measured in the cell's own process (fastest of 5); for training, 3 × the training "
        "graph's forward MACs (heads at TRAIN_ROIS_PER_IMAGE) × batch 2. Peak RSS: maxrss of the cell's process "
        "(inference, then training)."
    )


def _gmacs(value):
    return f"{value / 1e9:.2f}"


def cost_table(result):
    """The cost part's table: one row per (backbone, widths, size)."""
    head = ["row", "backbone", "widths", "size", "params (M)", "weights MB", "GMACs body", "GMACs FPN+RPN"]
    head += ["GMACs heads", "GMACs total", "detect ms (× ref)", "network ms (× floor)", "train step s (× floor)"]
    head += ["peak RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in result["rows"]:
        first = [row["name"], row["label"], row["widths"], f"{row['size']}²"]
        if "error" in row:
            error = row["error"].replace("\n", " ").replace("|", "/")[:80]
            lines.append("| " + " | ".join(first + [f"failed: {error}"] + ["–"] * (len(head) - 5)) + " |")
            continue
        macs, detect = row["macs"], row["detect"][str(row["size"])]
        cells = first + [f"{row['params'] / 1e6:.2f}", f"{row['weights_mb']:.1f}"]
        cells += [_gmacs(macs[key]) for key in ("body", "fpn_rpn", "heads", "total")]
        cells += [
            f"{detect['ms']:.0f} ({detect['x_ref']:.2f}×)",
            f"{detect['network_ms']:.0f} ({row['network_x_floor']:.1f}×)",
        ]
        cells += [f"{row['train_step_ms'] / 1000:.2f} ({row['train_x_floor']:.1f}×)", f"{row['peak_rss_mb']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    done = [row for row in result["rows"] if "error" not in row]
    rates = [row["mac_rate_gmacs"] for row in done]
    rois = done[0]["macs"]["rois"] if done else {}
    filled = sorted({round(row["detect"][str(row["size"])]["network_detections_per_image"]) for row in done})
    lines += [
        "",
        result["budget"],
        "",
        f"Heads counted at {rois.get('roi_align_classifier', '?')} box-head ROIs and {rois.get('roi_align_mask', '?')} "
        f"mask ROIs (POST_NMS_ROIS_INFERENCE, DETECTION_MAX_INSTANCES); slots filled while timing: "
        f"{', '.join(map(str, filled)) or '–'}. MAC rate: "
        + (f"{min(rates):.0f}–{max(rates):.0f} GMAC/s (median {statistics.median(rates):.0f})" if rates else "–")
        + f". Reference (ResNet101 forward 1×512², median of 7): {_fmt(result['reference_ms'], '.0f')} ms. "
        f"Wall time: {result['rows_seconds'] / 60:.1f} min for the cells on {result['machine']['cpu_count']} CPU "
        f"cores, {result['date']}." + (" **--quick run: the numbers mean nothing.**" if result["quick"] else ""),
    ]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    with atomic.atomic_path(path) as temp:
        fig.savefig(temp, dpi=120)
    _pyplot().close(fig)


def plot_study(shapes, cost, path):
    """shapes_speed_vs_ap.png: held-out shapes AP50 of each row vs its detect() ms (slim, smallest cost size)."""
    plt = _pyplot()
    size = min((row["size"] for row in cost["rows"]), default=None)
    speed = {
        row["key"]: row["detect"][str(size)]["ms"]
        for row in cost["rows"]
        if "error" not in row and row["widths"] == "slim" and row["size"] == size
    }
    rows = [row for row in shapes["rows"] if "error" not in row and row["key"] in speed]
    fig, ax = plt.subplots(figsize=(8, 5))
    for row in rows:
        x = speed[row["key"]]
        ax.scatter(x, row["mask_AP50"], color="tab:blue", marker="o", s=60)
        ax.scatter(x, row["box_AP50"], facecolors="none", edgecolors="tab:orange", marker="s", s=60)
        ax.annotate(row["key"], (x, row["mask_AP50"]), textcoords="offset points", xytext=(6, 4), fontsize=8)
    ax.scatter([], [], color="tab:blue", marker="o", label="mask AP50")
    ax.scatter([], [], facecolors="none", edgecolors="tab:orange", marker="s", label="box AP50")
    if rows:
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no row with both an AP and a cost", ha="center", transform=ax.transAxes)
    ax.set_xlabel(f"detect() ms per image at {size}², slim widths, every slot filled (median)")
    ax.set_ylabel("held-out shapes AP50")
    ax.set_ylim(-0.02, 1.0)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title("Backbones from random weights on shapes: speed vs accuracy")
    fig.tight_layout()
    _save(fig, path)


def plot_cost(cost, path):
    """cost_breakdown.png: GMACs per image stacked body / FPN+RPN / heads, one bar per row, one panel per size."""
    plt = _pyplot()
    done = [row for row in cost["rows"] if "error" not in row]
    sizes = sorted({row["size"] for row in done}) or [None]
    fig, axes = plt.subplots(1, len(sizes), figsize=(max(8, 5 * len(sizes)), 5.5), squeeze=False)
    parts = (("body", "body", "tab:blue"), ("fpn_rpn", "FPN+RPN", "tab:orange"), ("heads", "heads", "tab:green"))
    for ax, size in zip(axes[0], sizes):
        rows = [row for row in done if row["size"] == size]
        labels = [f"{row['key']}\n{row['widths']}" for row in rows]
        bottom = [0.0] * len(rows)
        for key, label, color in parts:
            values = [row["macs"][key] / 1e9 for row in rows]
            ax.bar(labels, values, bottom=bottom, color=color, label=label)
            bottom = [b + v for b, v in zip(bottom, values)]
        ax.set_title(f"{size}²" if size else "no cell finished")
        ax.set_ylabel("GMACs per image")
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].legend(loc="upper left")
    fig.suptitle("Multiply-accumulates per image: body / FPN+RPN / heads", fontsize=11)
    fig.tight_layout()
    _save(fig, path)


def write_readme(path, table, key="results"):
    """Put `table` between the `key` markers of `path` (creating the file or the markers if missing)."""
    path = Path(path)
    start, end = markers(key)
    text = path.read_text() if path.is_file() else "# Backbone comparison\n\n"
    block = f"{start}\n{table}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with atomic.atomic_path(path) as temp:
        Path(temp).write_text(text)


def common_fields(args, rows, started, budget):
    """The fields every part's result has."""
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "machine": measure.machine_info(versions=False),
        "budget": budget,
        "rows": rows,
        "seconds": round(time.time() - started, 1),
        "rows_seconds": round(sum(row.get("wall_seconds", 0) for row in rows), 1),
    }


def balloon_part(args, names, log, sizes=None):
    """The balloon-trained rows `names` (the transfer or the balloon part), timed at `sizes` (default --sizes)."""
    started = time.time()
    log(budget_text(args))
    measure.check_reference_tool(CompareError)
    rows = [measure_row(args, name, log) for name in names]
    refs = [row["reference_ms"] for row in rows if "reference_ms" in row]
    result = {
        **common_fields(args, rows, started, budget_text(args)),
        "reference_ms": statistics.median(refs) if refs else None,
        "image_size": args.image_size,
        "sizes": sizes or args.sizes,
        "epochs": args.epochs,
        "steps": args.steps,
        "runs": args.runs,
        "warmup": args.warmup,
        "eval_min_confidence": EVAL_MIN_CONFIDENCE,
    }
    result["table"] = markdown_table(result)
    return result


def transfer_part(args, log):
    """MobileNet v1 from ImageNet and from random weights on balloon (None if no study backbone has a pair)."""
    names = [TRANSFER[key][init] for key in args.backbones if key in TRANSFER for init in args.transfer_inits]
    if not names:
        log(f"transfer: none of {', '.join(args.backbones)} has an ImageNet file here ({', '.join(TRANSFER)} do)")
        return None
    return balloon_part(args, names, log, [args.image_size])


def rise_check(row):
    """Mask AP gained over the last evaluation interval of a shapes row: is it still rising at the end?"""
    curve = row.get("curve") or []
    if len(curve) < 2:
        return {"row": row["name"], "gain": None, "rising": None}
    before, last = curve[-2], curve[-1]
    gain = last["val_mask_AP"] - before["val_mask_AP"]
    return {
        "row": row["name"],
        "from_images": before["images_seen"],
        "to_images": last["images_seen"],
        "gain": gain,
        "rising": gain > RISE_MARGIN,
    }


def shapes_part(args, log):
    """Every study backbone from random weights on shapes, the check row (CHECK_KEY) first."""
    started = time.time()
    log(shapes_budget_text(args))
    keys = sorted(args.backbones, key=lambda key: key != CHECK_KEY)
    rows = [measure_row(args, f"shapes_{key}", log) for key in keys]
    check = rise_check(rows[0])
    log(check_text(check))
    result = {**common_fields(args, rows, started, shapes_budget_text(args)), "check": check}
    result["table"] = shapes_table(result)
    return result


def cost_part(args, log):
    """Every (study backbone, widths, size) cell; × ref uses the reference measured when the cell was."""
    started = time.time()
    measure.check_reference_tool(CompareError)
    reference = measure_reference(args.quick, log)
    names = [cost_name(key, w, size) for key in args.backbones for w in args.cost_widths for size in args.sizes]
    rows = [measure_row(args, name, log, {"reference_ms": reference}) for name in names]
    rows = [row if "error" in row else timing_ratios(row, row["reference_ms"]) for row in rows]
    result = {**common_fields(args, rows, started, cost_conditions(args)), "reference_ms": reference}
    result["table"] = cost_table(result)
    return result


PART_RUNNERS = {"shapes": shapes_part, "transfer": transfer_part, "cost": cost_part}


def run(args, log=print):
    """Run every part of args.parts: {part: its result dict} (a part with no rows is left out)."""
    results = {}
    for part in args.parts:
        result = balloon_part(args, args.rows, log) if part == "balloon" else PART_RUNNERS[part](args, log)
        if result is not None:
            results[part] = result
    return results


def report(args, results):
    """Write each part's JSON and README table, and the plots: the paths written."""
    out = Path(args.out)
    written = []
    for part, result in results.items():
        write_json(out / PART_FILES[part], result)
        write_readme(args.readme, result["table"], README_KEYS.get(part, part))
        written.append(out / PART_FILES[part])
    plots = {"balloon": "speed_vs_ap.png", "transfer": "transfer_speed_vs_ap.png"}
    for part, name in plots.items():
        if part in results:
            plot(results[part], out / name)
            written.append(out / name)
    if "cost" in results:
        plot_cost(results["cost"], out / "cost_breakdown.png")
        written.append(out / "cost_breakdown.png")
    stored = [out / PART_FILES[part] for part in ("shapes", "cost")]
    if {"shapes", "cost"} & set(results) and all(path.is_file() for path in stored):
        shapes, cost = (json.loads(path.read_text()) for path in stored)
        plot_study(shapes, cost, out / "shapes_speed_vs_ap.png")
        written.append(out / "shapes_speed_vs_ap.png")
    return written


# ---- command line ----------------------------------------------------------------------------------


def _names(values):
    """Row names from --backbones values (comma lists too); a group name (GROUPS) expands to its rows."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    return [row for name in names for row in GROUPS.get(name, [name])]


def _positive_sizes(parser, sizes):
    for size in sizes:
        if size <= 0 or size % 64:
            parser.error(f"--image-size/--sizes/--shapes-size: {size} is not a positive multiple of 64")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts",
        default=",".join(DEFAULT_PARTS),
        help=f"comma list of parts to run, of {', '.join(PARTS)} (default: {','.join(DEFAULT_PARTS)})",
    )
    parser.add_argument(
        "--backbones",
        nargs="+",
        default=None,
        help=f"study backbones for shapes/cost/transfer (default: {' '.join(STUDY)}; any registered backbone too); "
        f"with --parts balloon: balloon rows (default: {' '.join(DEFAULT_VARIANTS)}), or 'ablation'",
    )
    parser.add_argument("--epochs", type=int, default=8, help="balloon epochs per row (rows marked fewer get half)")
    parser.add_argument("--steps", type=int, default=30, help="balloon steps of batch 2 per epoch (30: one pass)")
    parser.add_argument("--image-size", type=int, default=512, help="balloon training/evaluation size, multiple of 64")
    parser.add_argument("--sizes", default="512,768,1024", help="comma list of cost sizes (and balloon detect() sizes)")
    parser.add_argument("--runs", type=int, default=7, help="timed detect() runs per size (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed detect() runs before each timing")
    parser.add_argument("--train-runs", type=int, default=3, help="timed train steps per cost cell (after one)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N balloon images of each split")
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "datasets" / "balloon"))
    parser.add_argument("--shapes-train", type=int, default=2000, help="shapes training images")
    parser.add_argument("--shapes-val", type=int, default=200, help="held-out shapes images (another seed)")
    parser.add_argument("--shapes-size", type=int, default=SHAPES_REFERENCE_SIZE, help="shapes image size")
    parser.add_argument("--shapes-epochs", type=int, default=4, help="shapes epochs per row")
    parser.add_argument("--shapes-steps", type=int, default=250, help="shapes steps of batch 2 per epoch")
    parser.add_argument("--shapes-evals", type=int, default=4, help="held-out evaluations over the shapes budget")
    parser.add_argument(
        "--out",
        default=None,
        help="folder for the JSON files and plots (default: backbones/results; "
        "with --quick: <work>/quick/results, so a smoke run never replaces the study)",
    )
    parser.add_argument("--readme", default=None, help="README to write the tables into (default: <out>/../README.md)")
    parser.add_argument("--work", default=str(DEFAULT_WORK), help="folder for weights, logs and checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init",
        default=None,
        help="start every balloon row from this weights file (one fixed starting point, as the balloon "
        "ablation does) instead of ImageNet; rows then train one stage at lr/5",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse a row's <work>/<row>/result.json if it was measured under the same budget",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI smoke run of every part: one backbone, a few images, 1 step, 1 timing run, all at 128²",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.parts = [part.strip() for part in args.parts.split(",") if part.strip()]
    if not args.parts or set(args.parts) - set(PARTS):
        parser.error(f"--parts: choose among {', '.join(PARTS)}, got {args.parts}")
    args.cost_widths, args.transfer_inits = COST_WIDTHS, tuple(INITS)
    if args.quick:
        args.epochs, args.steps, args.image_size, args.limit = 1, 1, 128, 2
        args.sizes, args.runs, args.warmup, args.train_runs = "128", 1, 0, 1
        args.shapes_train, args.shapes_val, args.shapes_size = 4, 2, 128
        args.shapes_epochs, args.shapes_steps, args.shapes_evals = 1, 1, 1
        args.cost_widths, args.transfer_inits = ("slim",), ("imagenet",)
    try:
        args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be a comma list of integers, got {args.sizes!r}")
    _positive_sizes(parser, args.sizes + [args.image_size, args.shapes_size])
    counts = (args.epochs, args.steps, args.runs, args.train_runs, args.shapes_train, args.shapes_val)
    counts += (args.shapes_epochs, args.shapes_steps, args.shapes_evals)
    if min(counts) < 1 or args.warmup < 0:
        parser.error("--epochs, --steps, --runs, --train-runs and the --shapes-* counts must be >= 1, --warmup >= 0")
    if args.init:
        if not Path(args.init).is_file():
            parser.error(f"--init {args.init}: no such weights file")
        args.init = str(Path(args.init).resolve())  # absolute, so --resume matches however it was written
    quick = args.quick and not args.backbones
    study_parts = set(args.parts) - {"balloon"}
    try:
        args.rows = _names(args.backbones or (QUICK_VARIANTS if quick else DEFAULT_VARIANTS))
        args.rows = [name for name in args.rows if resolve_variant(name)] if "balloon" in args.parts else []
        args.backbones = _names(args.backbones or (QUICK_BACKBONES if quick else STUDY))
        args.backbones = [key for key in args.backbones if study_variant(key)] if study_parts else []
    except CompareError as err:
        parser.error(str(err))
    balloon_rows = "balloon" in args.parts or ("transfer" in args.parts and set(args.backbones) & set(TRANSFER))
    if (balloon_rows or args.child and row_kind(args.child) == "balloon") and not Path(
        args.dataset, "train", "via_region_data.json"
    ).is_file():
        parser.error(f"--dataset {args.dataset}: no train/via_region_data.json there (the balloon folder)")
    if args.out is None:
        args.out = str(Path(args.work) / "quick" / "results") if args.quick else str(DEFAULT_OUT)
    args.readme = args.readme or str(Path(args.out).resolve().parent / "README.md")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        write_json(args.child_result, run_row(args))
        return 0
    try:
        results = run(args, log=lambda text: print(text, flush=True))
    except CompareError as err:
        print(f"compare: {err}", file=sys.stderr)
        return 2
    written = report(args, results)
    for result in results.values():
        print("\n" + result["table"])
    print(f"\nwrote {', '.join(map(str, written))} and {args.readme}")
    return 1 if any("error" in row for result in results.values() for row in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
