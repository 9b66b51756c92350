#!/usr/bin/env python
"""Backbone comparison on balloon (issue 8): train, evaluate and time each backbone under one budget.

    python backbones/compare.py [--backbones NAME ...] [--epochs N] [--image-size S] [--quick]
                                [--out backbones/results] [--readme backbones/README.md] [--work DIR]

Each row (a "variant": backbone, its options, initialisation and head widths) runs in a fresh
subprocess: train with sample_cli's 3-stage schedule, save the weights, evaluate COCO mask/box AP on
balloon val, measure the machine reference (../shared/tools/reference_ms.py, in its own process) and
time detect() at each timing size; it reports its own peak RSS. The parent writes <out>/results.json,
<out>/speed_vs_ap.png and the table into the README between markers. Weights and logs go to --work
(default ../runs/compare beside the checkout), never the repository; --resume reuses finished rows.
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
TABLE_START = "<!-- compare:results:start (written by backbones/compare.py; reruns replace it) -->"
TABLE_END = "<!-- compare:results:end -->"
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
QUICK_VARIANTS = ("mobilenet_v2",)


class CompareError(RuntimeError):
    """The study cannot run as asked (bad option, missing tool or data)."""


# ---- plan ------------------------------------------------------------------------------------------


def resolve_variant(name):
    """A Variant for a table key, or for any registered backbone name (scratch, slim widths)."""
    if name in VARIANTS or name in ABLATION_ROWS:
        return VARIANTS.get(name) or ABLATION_ROWS[name]
    from mrcnn.backbones import list_backbones

    if name in list_backbones():
        return Variant(name, {}, "scratch", "slim", 1.0, name)
    raise CompareError(
        f"--backbones: unknown name {name!r}; use one of {', '.join(VARIANTS)} "
        f"or a registered backbone ({', '.join(list_backbones())})"
    )


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


# ---- one variant (runs in its own subprocess) ------------------------------------------------------


def rss_mb():
    """Peak RSS of this process so far, MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_timer():
    """A Keras callback recording each training batch's wall time (ms) under `callback.stage`."""
    import keras

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stage, self.times, self._start = None, {}, None

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


# ---- parent: subprocesses, reference, report -------------------------------------------------------


def write_json(path, data):
    """Write `data` to `path` atomically; anything JSON cannot hold (paths) is written as its str()."""
    atomic.write_json(path, data, default=str)


def child_argv(args, name, result_path):
    """Command line re-running this script for one variant, with the parent's budget."""
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--child-result",
        str(result_path),
        "--epochs",
        str(args.epochs),
        "--steps",
        str(args.steps),
        "--image-size",
        str(args.image_size),
        "--sizes",
        ",".join(map(str, args.sizes)),
        "--runs",
        str(args.runs),
        "--warmup",
        str(args.warmup),
        "--dataset",
        str(args.dataset),
        "--work",
        str(args.work),
        "--seed",
        str(args.seed),
    ]
    argv += ["--init", str(args.init)] if args.init else []
    return argv + (["--limit", str(args.limit)] if args.limit else [])


def run_child(argv, log_path):
    """Run argv with its output to log_path; returns (exit code, seconds)."""
    started = time.perf_counter()
    with open(log_path, "w") as log:
        code = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO), check=False).returncode
    return code, time.perf_counter() - started


def budget_key(args):
    """What a row's numbers depend on; --resume reuses a stored row only if this matches."""
    return {
        key: getattr(args, key)
        for key in ("epochs", "steps", "image_size", "sizes", "runs", "warmup", "limit", "seed", "dataset", "init")
    }


def stored_row(args, result_path):
    """The row in result_path if --resume and it was measured under the same budget, else None."""
    if not args.resume or not result_path.is_file():
        return None
    row = json.loads(result_path.read_text())
    return row if row.get("budget") == json.loads(json.dumps(budget_key(args))) else None


def tail(path, lines=15):
    text = Path(path).read_text(errors="replace").replace("\r", "\n").splitlines()
    return "\n".join(line for line in text[-lines:])


def measure_variant(args, name, log):
    """One variant in a fresh subprocess → its row dict (with "error" if it failed)."""
    folder = Path(args.work) / name
    folder.mkdir(parents=True, exist_ok=True)
    result_path, log_path = folder / "result.json", folder / "run.log"
    row = stored_row(args, result_path)
    if row is not None:
        log(f"{name}: reusing {result_path} (--resume, same budget)")
        return row
    result_path.unlink(missing_ok=True)
    log(f"{name}: training and evaluating in a subprocess (log: {log_path}) ...")
    load_before = os.getloadavg()[0]
    code, seconds = run_child(child_argv(args, name, result_path), log_path)
    load = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    if code != 0 or not result_path.is_file():
        log(f"{name}: FAILED (exit {code}); last lines of {log_path}:\n{tail(log_path)}")
        variant = dataclasses.asdict(resolve_variant(name))
        return {
            "name": name,
            **variant,
            "error": f"exit {code}: {tail(log_path, 3)}",
            "wall_seconds": seconds,
            "load_average_start_end": load,
        }
    row = json.loads(result_path.read_text())
    row.update(wall_seconds=seconds, load_average_start_end=load)
    write_json(result_path, row)
    log(f"{name}: done in {seconds:.0f} s; mask AP50 {row['mask_AP50']}, detect {row['detect']}")
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

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
    with atomic.atomic_path(path) as temp:
        fig.savefig(temp, dpi=120)
    plt.close(fig)


def write_readme(path, table):
    """Put `table` between the markers of `path` (creating the file or the markers if missing)."""
    path = Path(path)
    text = path.read_text() if path.is_file() else "# Backbone comparison\n\n"
    block = f"{TABLE_START}\n{table}\n{TABLE_END}"
    if TABLE_START in text and TABLE_END in text:
        before, rest = text.split(TABLE_START, 1)
        text = before + block + rest.split(TABLE_END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    with atomic.atomic_path(path) as temp:
        Path(temp).write_text(text)


def run(args, log=print):
    """Measure every variant and return the result dict."""
    started = time.time()
    log(budget_text(args))
    measure.check_reference_tool(CompareError)
    rows = [measure_variant(args, name, log) for name in args.backbones]
    refs = [row["reference_ms"] for row in rows if "reference_ms" in row]
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "machine": measure.machine_info(versions=False),
        "reference_ms": statistics.median(refs) if refs else None,
        "image_size": args.image_size,
        "sizes": args.sizes,
        "epochs": args.epochs,
        "steps": args.steps,
        "runs": args.runs,
        "warmup": args.warmup,
        "eval_min_confidence": EVAL_MIN_CONFIDENCE,
        "budget": budget_text(args),
        "rows": rows,
    }
    result["seconds"] = round(time.time() - started, 1)
    result["rows_seconds"] = round(sum(row.get("wall_seconds", 0) for row in rows), 1)
    result["table"] = markdown_table(result)
    return result


def report(args, result):
    """Write results.json, speed_vs_ap.png and the README table."""
    out = Path(args.out)
    write_json(out / "results.json", result)
    plot(result, out / "speed_vs_ap.png")
    write_readme(args.readme, result["table"])
    return out


# ---- command line ----------------------------------------------------------------------------------


def _names(values):
    """Row names from --backbones values (comma lists too); a group name (GROUPS) expands to its rows."""
    names = [n.strip() for value in values for n in value.split(",") if n.strip()]
    return [row for name in names for row in GROUPS.get(name, [name])]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--backbones",
        nargs="+",
        default=None,
        help=f"rows to run (default: {' '.join(DEFAULT_VARIANTS)}); also any registered backbone, "
        "or 'ablation' for samples/balloon's ablation rows",
    )
    parser.add_argument("--epochs", type=int, default=8, help="epochs per row (rows marked fewer get half)")
    parser.add_argument("--steps", type=int, default=30, help="steps of batch 2 per epoch (30: one pass over train)")
    parser.add_argument("--image-size", type=int, default=512, help="training/evaluation size, multiple of 64")
    parser.add_argument("--sizes", default="512,1024", help="comma list of detect() timing sizes")
    parser.add_argument("--runs", type=int, default=7, help="timed detect() runs per size (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed detect() runs before each timing")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "datasets" / "balloon"))
    parser.add_argument(
        "--out",
        default=None,
        help="folder for results.json and speed_vs_ap.png (default: backbones/results; "
        "with --quick: <work>/quick/results, so a smoke run never replaces the study)",
    )
    parser.add_argument("--readme", default=None, help="README to write the table into (default: <out>/../README.md)")
    parser.add_argument("--work", default=str(DEFAULT_WORK), help="folder for weights, logs and checkpoints")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--init",
        default=None,
        help="start every row from this weights file (one fixed starting point, as the balloon "
        "ablation does) instead of ImageNet; rows then train one stage at lr/5",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse a row's <work>/<row>/result.json if it was measured under the same budget",
    )
    parser.add_argument(
        "--quick", action="store_true", help="CI smoke run: 1 row, 2 images, 1 step, 1 timing run, all at 128²"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--child-result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.epochs, args.steps, args.image_size, args.limit = 1, 1, 128, 2
        args.sizes, args.runs, args.warmup = "128", 1, 0
        args.backbones = args.backbones or list(QUICK_VARIANTS)
    args.backbones = _names(args.backbones or DEFAULT_VARIANTS)
    try:
        args.sizes = [int(s) for s in str(args.sizes).split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be a comma list of integers, got {args.sizes!r}")
    for size in args.sizes + [args.image_size]:
        if size <= 0 or size % 64:
            parser.error(f"--image-size/--sizes: {size} is not a positive multiple of 64")
    if min(args.epochs, args.steps, args.runs) < 1 or args.warmup < 0:
        parser.error("--epochs, --steps and --runs must be >= 1, --warmup >= 0")
    if args.init:
        if not Path(args.init).is_file():
            parser.error(f"--init {args.init}: no such weights file")
        args.init = str(Path(args.init).resolve())  # absolute, so --resume matches however it was written
    if not Path(args.dataset, "train", "via_region_data.json").is_file():
        parser.error(f"--dataset {args.dataset}: no train/via_region_data.json there (the balloon folder)")
    try:
        for name in args.backbones:
            resolve_variant(name)
    except CompareError as err:
        parser.error(str(err))
    if args.out is None:
        args.out = str(Path(args.work) / "quick" / "results") if args.quick else str(DEFAULT_OUT)
    args.readme = args.readme or str(Path(args.out).resolve().parent / "README.md")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        write_json(args.child_result, run_variant(args))
        return 0
    try:
        result = run(args, log=lambda text: print(text, flush=True))
    except CompareError as err:
        print(f"compare: {err}", file=sys.stderr)
        return 2
    out = report(args, result)
    print("\n" + result["table"])
    print(f"\nwrote {out / 'results.json'}, {out / 'speed_vs_ap.png'} and {args.readme} ({result['seconds']:.0f} s)")
    return 1 if any("error" in row for row in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
