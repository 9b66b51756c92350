#!/usr/bin/env python
"""Speed benchmark of mrcnn (issues 4 and 9): detect(), its split, train steps, batch scaling, memory.

Every time is also given as a multiple of the machine reference (`reference_ms()` in
../shared/tools/reference_ms.py: ResNet101 forward on 1x512x512x3), measured in the same run.

    python bench/bench.py [--configs r50,r101,mobile,r50-bf16,r101-bf16] [--sizes 512,1024] [--runs 7]
                          [--out bench/results/NAME.json] [--quick] [--profile mobile,r101] [--no-profile]

A "-bf16" config is the same model with Config.PRECISION = "mixed_bfloat16" (bfloat16 convolutions,
float32 geometry): on CPUs with AVX512_BF16 or AMX, oneDNN runs those convolutions about twice as fast.

Conditions, as the peers were measured: random weights, NUM_CLASSES = 81, a 768x1024 RGB input
image, DETECTION_MIN_CONFIDENCE = 0 and DETECTION_MAX_INSTANCES = 100 so every detection slot is
filled (the mobile config normally keeps 50; it is forced to 100 here too). For inference the two
box-regression layers (rpn_bbox_pred, mrcnn_bbox_fc) are zeroed: with random deltas every box
collapses below a pixel, unmolding drops it and no mask is pasted; with zero deltas the boxes are
the anchors, so the unmold step pastes real masks as the peers' did. The network does the same work.
"""

import argparse
import datetime
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import measure  # noqa: E402  (needs REPO on sys.path)
from mrcnn.config import Config, MobileConfig  # noqa: E402
from mrcnn.engine.atomic import write_json  # noqa: E402

# Bench config name = body[-precision]: "r101" is float32, "r101-bf16" the same model under mixed_bfloat16.
BODIES = {"r50": "resnet50", "r101": "resnet101", "mobile": None}  # None: MobileConfig (slim widths)
PRECISIONS = {"": "float32", "bf16": "mixed_bfloat16"}
CONFIGS = tuple(body + (f"-{suffix}" if suffix else "") for suffix in PRECISIONS for body in BODIES)
DEFAULT_CONFIGS = "r50,r101,mobile,r50-bf16,r101-bf16"
BOX_DELTA_LAYERS = ("rpn_bbox_pred", "mrcnn_bbox_fc")
# Warn when the reference changes by more than this fraction within a run. On an idle machine it drifts
# up ~15% once the big models have run in the process; other jobs on the machine make it double.
LOAD_WARNING = 0.25
NUM_CLASSES = 81
IMAGE_SHAPE = (768, 1024, 3)
TRAIN_LAYERS = ("all", "heads")
CONDITIONS = (
    "random weights; NUM_CLASSES=81; input one 768x1024 RGB image; DETECTION_MIN_CONFIDENCE=0 and "
    "DETECTION_MAX_INSTANCES=100 (all configs, mobile included) so every detection slot is filled; inference "
    "box-regression layers zeroed so boxes are anchor-shaped, not degenerate, and their masks get pasted; batch 1 "
    "unless stated; median of the runs after warm-up; x ref against the reference measured just before each config"
)
# matterport's TF2 port (`--peer`): its measuring script, and which of our configs each of its models faces.
PEER_DIR = REPO.parent / "shared" / "peers" / "matterport_tf2"
PEER_MODELS = {"resnet101": ("port R101", ("r101", "r101-bf16")), "resnet50": ("port R50", ("r50", "r50-bf16"))}
PEER_METRICS = ("detect_512", "detect_1024", "train_all", "train_heads")
# (config, metric, limit in x ref, description)
TARGETS = (
    ("r50", "detect_512", 2.6, "R50 detect() at 512 <= 2.6x ref"),
    ("r101", "detect_512", 2.6, "R101 detect() at 512 <= 2.6x ref"),
    ("mobile", "detect_512", 0.5, "mobile detect() at 512 <= 0.5x ref"),
    ("r101", "train_all", 9.0, "R101 train step, all layers, at 512 <= 9x ref"),
    ("r50-bf16", "detect_512", 2.6, "R50 bfloat16 detect() at 512 <= 2.6x ref"),
    ("r101-bf16", "detect_512", 2.6, "R101 bfloat16 detect() at 512 <= 2.6x ref"),
    ("r101-bf16", "train_all", 9.0, "R101 bfloat16 train step, all layers, at 512 <= 9x ref"),
)


class BenchError(RuntimeError):
    """The benchmark cannot run as asked (bad option, missing reference tool)."""


# ---- setup ---------------------------------------------------------------------------------------


def make_config(name, size, batch=1):
    """The benchmark Config for `name` (see CONFIGS, e.g. "r101" or "r101-bf16") at `size` x `size` pixels."""
    body, _, suffix = name.partition("-")
    if body not in BODIES or suffix not in PRECISIONS:
        raise BenchError(f"Unknown config {name!r}; choose among {', '.join(CONFIGS)}")
    common = dict(
        IMAGE_MIN_DIM=size,
        IMAGE_MAX_DIM=size,
        NUM_CLASSES=NUM_CLASSES,
        GPU_COUNT=1,
        IMAGES_PER_GPU=batch,
        DETECTION_MIN_CONFIDENCE=0.0,
        DETECTION_MAX_INSTANCES=100,
        DETECTION_PER_CLASS=True,  # every class of every ROI is a candidate: the 100 slots fill, as the peer's
        PRECISION=PRECISIONS[suffix],
    )
    if BODIES[body] is None:
        return MobileConfig(NAME=f"bench_{body}", **common)
    return Config(NAME=f"bench_{body}", BACKBONE=BODIES[body], **common)


def zero_box_deltas(keras_model):
    """Zero the weights of the box-regression layers, so proposals are anchors and detections are proposals."""
    from mrcnn.weights.h5 import weight_layers

    layers = weight_layers(keras_model)
    for name in BOX_DELTA_LAYERS:
        layer = layers[name]
        layer.set_weights([w * 0 for w in layer.get_weights()])


def inference_model(name, size):
    """The benchmark inference MaskRCNN (random weights, box deltas zeroed)."""
    model = measure.inference_model(make_config(name, size))
    zero_box_deltas(model.keras_model)
    return model


def load_reference():
    """`reference_ms` from ../shared/tools/reference_ms.py (beside the checkout)."""
    measure.check_reference_tool(BenchError)
    if str(measure.TOOLS) not in sys.path:
        sys.path.insert(0, str(measure.TOOLS))
    from reference_ms import reference_ms

    return reference_ms


def run_peer(python, backbones, train, log, script=None):
    """Run the peer's measure.py with its own venv's `python`; returns its JSON result.

    The peer needs TensorFlow 2.15 (PEER_DIR/setup.sh VENV builds that venv); it runs in its own
    process, in this same invocation, so its figures and ours share the machine's state.
    """
    import json

    script = Path(script or PEER_DIR / "measure.py")
    if not Path(python).is_file():
        raise BenchError(f"--peer {python}: no such interpreter; build it with {PEER_DIR / 'setup.sh'} VENV")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "peer.json"
        command = [str(python), str(script), "--src", str(script.parent), "--backbones", *backbones, "--out", str(out)]
        if not train:
            command.append("--no-train")
        log("peer: " + " ".join(command))
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0 or not out.is_file():
            raise BenchError(f"the peer failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
        return json.loads(out.read_text())


def peer_ratios(peer, reference_ms):
    """{peer name: {metric: x ref}} from the peer's JSON, against the reference measured beside it."""
    ratios = {}
    for backbone, (label, _) in PEER_MODELS.items():
        model = peer["models"].get(f"matterport_maskrcnn_{backbone}_fpn")
        if model is None:
            continue
        values = {
            "detect_512": model["inference"]["512"]["ms_median"],
            "detect_1024": model["inference"]["800/1024"]["ms_median"],
        }
        for layers in TRAIN_LAYERS:
            if f"train_{layers}" in model:
                values[f"train_{layers}"] = model[f"train_{layers}"]["s_median"] * 1000.0
        ratios[label] = {k: v / reference_ms for k, v in values.items()} | {"reference_ms": reference_ms}
    return ratios


def versus_peer(configs, peers):
    """{our config: {metric: our x ref / the peer's x ref}} for each config with a measured peer (< 1: faster)."""
    out = {}
    for label, ours in PEER_MODELS.values():
        for name in ours:
            if label in peers and name in configs:
                mine = headline(configs[name])
                out[name] = {m: mine[m] / peers[label][m] for m in PEER_METRICS if m in mine and m in peers[label]} | {
                    "peer": label
                }
    return out


def bench_image(seed=0):
    """The benchmark input: a random uint8 RGB image of IMAGE_SHAPE."""
    import numpy as np

    return np.random.default_rng(seed).integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)


def time_unmold_full(model, image, runs, count=100, seed=0):
    """Median ms of unmold_detections with `count` detections that all survive, i.e. `count` pasted masks.

    With random weights most boxes fall in the padding and are dropped, so the measured unmold
    pastes few masks. This times the full case: boxes of random size (1/32 to 1/2 of the molded
    side) spread over the image window, random mask probabilities of MASK_SHAPE.
    """
    import numpy as np

    from mrcnn.inference import mold

    molded, windows, scales, shapes = model.mold_inputs([image])
    side, (y1, x1, y2, x2) = molded.shape[1], windows[0]
    rng = np.random.default_rng(seed)
    extent = rng.uniform(side / 32, side / 2, (count, 2))
    top = rng.uniform((y1, x1), np.maximum((y2, x2) - extent, (y1, x1)), (count, 2))
    boxes = np.concatenate([top, np.minimum(top + extent, (y2, x2))], axis=1) / side
    detections = np.concatenate([boxes, np.ones((count, 2))], axis=1).astype(np.float32)
    masks = rng.random((count, *model.config.MASK_SHAPE), dtype=np.float32)
    unmold_args = (detections, masks, shapes[0], molded.shape[1:], windows[0], scales[0])
    times, result = measure.timed(runs, 1, mold.unmold_detections, *unmold_args)
    if len(result["class_ids"]) != count:
        raise BenchError(f"unmold kept {len(result['class_ids'])} of {count} synthetic in-window detections")
    return measure.median(times)


def bench_inference(name, size, runs, warmup, batch_sizes, image):
    """Params, detect split at `size` and (if batch_sizes) ms per image for each batch size."""
    model = inference_model(name, size)
    expected = len(model.detect([image])[0]["class_ids"])  # The facade itself (also traces the graph).
    out = {"params": int(model.keras_model.count_params()), "detect": measure.time_detect(model, [image], runs, warmup)}
    detect = out["detect"]
    detect["unmold_100_masks_ms"] = time_unmold_full(model, image, runs)
    # The conservative figure, used for the targets: as if all 100 detections survived and got a mask.
    detect["detect_100_masks_ms"] = detect["mold_ms"] + detect["network_ms"] + detect["unmold_100_masks_ms"]
    if out["detect"]["detections_per_image"] != expected:
        raise BenchError(
            f"{name}: detect() gave {expected} detections but the timed path gave "
            f"{out['detect']['detections_per_image']}; measure.detect_once must mirror MaskRCNN._detect_batch"
        )
    if batch_sizes:
        out["batch"] = {}
        for batch in batch_sizes:
            timing = out["detect"] if batch == 1 else measure.time_detect(model, [image] * batch, runs, warmup)
            out["batch"][str(batch)] = {"ms": timing["ms"]}  # per image
    del model
    measure.free_memory()
    return out


# ---- training ------------------------------------------------------------------------------------


def train_batch(config):
    """One training batch from mrcnn.data.generator.DataGenerator over a tiny synthetic ShapesDataset."""
    from mrcnn.data.generator import DataGenerator
    from mrcnn.datasets import ShapesDataset

    size = int(config.IMAGE_SHAPE[0])
    dataset = ShapesDataset()
    dataset.load_shapes(2, size, size, seed=0)
    dataset.prepare()
    (inputs,) = DataGenerator(dataset, config, shuffle=False, seed=0, workers=1)[0]
    return inputs


def bench_training(name, size, runs, warmup):
    """Median ms of one train_on_batch step (batch 1) per layer preset in TRAIN_LAYERS."""
    from mrcnn.engine import training
    from mrcnn.model import MaskRCNN

    config = make_config(name, size)
    inputs = train_batch(config)
    with tempfile.TemporaryDirectory() as logs:
        model = MaskRCNN("training", config, logs)
    out = {}
    for layers in TRAIN_LAYERS:
        model.set_trainable(training.layers_pattern(layers, model.backbone))
        optimizer = training.make_optimizer(config, config.LEARNING_RATE)  # The one train() compiles with.
        model.keras_model.compile(optimizer=optimizer, jit_compile=bool(config.JIT_COMPILE))
        times, _ = measure.timed(runs, warmup, model.keras_model.train_on_batch, inputs)
        out[layers] = {"ms": measure.median(times)}
    del model
    measure.free_memory()
    return out


# ---- memory --------------------------------------------------------------------------------------


def rss_probe(name, size, detects):
    """In this process: build the inference model, run `detects` detects; return (ru_maxrss, VmHWM) in MB.

    Linux carries ru_maxrss over execve from the process that spawned us, so it is only this
    program's peak if the parent was small; VmHWM (/proc/self/status) belongs to this program alone.
    """
    image = bench_image()
    model = inference_model(name, size)
    for _ in range(detects):
        model.detect([image])
    status = Path("/proc/self/status").read_text().split("\n")
    hwm = [float(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM:")]
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, (hwm or [float("nan")])[0]


def peak_rss(name, size, detects):
    """Peak RSS (MB) of an inference-only run, measured in a fresh subprocess.

    Call it while this process is still small (see rss_probe): mb is ru_maxrss, vm_hwm_mb the check.
    """
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--rss-probe",
        name,
        "--sizes",
        str(size),
        "--rss-detects",
        str(detects),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("peak_rss_mb ")]
    if done.returncode != 0 or not lines:
        raise BenchError(f"RSS probe failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    maxrss, hwm = (float(v) for v in lines[-1].split()[1:3])
    return {"mb": maxrss, "vm_hwm_mb": hwm, "size": size, "detects": detects}


# ---- profile -------------------------------------------------------------------------------------


def stage_outputs(model):
    """Cumulative prefixes of the inference graph: [(stage name, output tensors of the prefix)].

    The boundaries are found by layer type (the backbone, PyramidAnchors, ProposalLayer, PyramidROIAlign,
    DetectionLayer and the mask head's transposed conv), so renaming a layer cannot break the profile.
    """
    from keras import layers

    from mrcnn.modeling.anchors import PyramidAnchors
    from mrcnn.modeling.detection import DetectionLayer
    from mrcnn.modeling.proposals import ProposalLayer
    from mrcnn.modeling.roi_align import PyramidROIAlign

    graph = model.keras_model

    def only(kind):
        (layer,) = [layer for layer in graph.layers if isinstance(layer, kind)]
        return layer

    box_align, mask_align = [layer for layer in graph.layers if isinstance(layer, PyramidROIAlign)]
    deconv = only(layers.Conv2DTranspose)
    (logits,) = [layer for layer in graph.layers if isinstance(layer, layers.Conv2D) and layer.input is deconv.output]
    return [
        ("backbone", list(model.backbone.model(graph.inputs[0]))),
        ("fpn", only(PyramidAnchors).input[1:]),  # [image, P2..P6]
        ("rpn", only(ProposalLayer).input[:2]),  # [rpn probs, rpn deltas, anchors]
        ("proposals", [only(ProposalLayer).output]),
        ("box ROIAlign (7x7)", [box_align.output]),
        ("box head (fc layers)", only(DetectionLayer).input[1:]),  # [proposals, class probs, box deltas]
        ("detection (per-class NMS)", [only(DetectionLayer).output]),
        ("mask ROIAlign (14x14)", [mask_align.output]),
        ("mask head 3x3 convs", [deconv.input]),
        ("mask head 2x2 deconv", [deconv.output]),
        ("mask head 1x1 class logits", [logits.output]),
        ("mask class select + sigmoid", list(graph.outputs)),
    ]


def profile_detect(name, size, runs, warmup, image):
    """Where detect() spends its time: mold, each network stage, unmold.

    Network stages are timed as cumulative prefixes of the graph (sub-models up to the stage's
    outputs); a stage's cost is the difference to the prefix before it.
    """
    import keras

    model = inference_model(name, size)
    split = measure.time_detect(model, [image], runs, warmup)
    molded = model.mold_inputs([image])[0]
    stages, previous = [{"stage": "mold (resize + pad)", "ms": split["mold_ms"]}], 0.0
    for stage, outputs in stage_outputs(model):
        prefix = keras.Model(model.keras_model.inputs, outputs)
        times, _ = measure.timed(runs, warmup, prefix.predict_on_batch, molded)
        cumulative = measure.median(times)
        stages.append({"stage": stage, "cumulative_ms": cumulative, "ms": cumulative - previous})
        previous = cumulative
    stages.append({"stage": "unmold (boxes + paste 100 masks)", "ms": split["unmold_ms"]})
    del model
    measure.free_memory()
    return {"config": name, "size": size, "detect_ms": split["ms"], "network_ms": split["network_ms"], "stages": stages}


# ---- report --------------------------------------------------------------------------------------


def headline(config_result):
    """Flat metrics in x ref (detect_512, detect_1024, train_all, train_heads) for one config.

    detect uses the 100-masks figure when present (the peers' condition), else the measured one.
    """
    flat = {}
    for key, timing in config_result.get("detect", {}).items():
        flat[f"detect_{key}"] = timing.get("detect_100_masks_x_ref", timing["x_ref"])
    for layers, timing in config_result.get("train_step", {}).items():
        flat[f"train_{layers}"] = timing["x_ref"]
    return flat


def check_targets(configs):
    """[{target, value, limit, met}] for each target whose config and metric were measured."""
    checks = []
    for name, metric, limit, text in TARGETS:
        value = headline(configs.get(name, {})).get(metric)
        if value is not None:
            checks.append({"target": text, "value_x_ref": value, "limit_x_ref": limit, "met": value <= limit})
    return checks


def _cell(timing, prefix=""):
    """'ms (x ref)' of timing[prefix + 'ms'], or '-' if absent."""
    if not timing or f"{prefix}ms" not in timing:
        return "-"
    return f"{timing[prefix + 'ms']:.0f} ({timing[prefix + 'x_ref']:.2f}x)"


def markdown_table(result):
    """The results as markdown: one row per config, then the peers, then the targets."""
    sizes = result["sizes"]
    batches = result["batch_sizes"]
    head = (
        ["config", "ref ms", "params (M)"]
        + [f"detect {s} ms (x ref)" for s in sizes]
        + [f"detect {s}, 100 masks ms (x ref)" for s in sizes]
        + [f"mold / network / unmold (100 masks) {sizes[0]} ms"]
        + [f"train {t} {result['train_size']} ms (x ref)" for t in TRAIN_LAYERS]
        + [f"batch {b} ms/img" for b in batches]
        + ["peak RSS MB"]
    )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in result["configs"].items():
        first = r["detect"].get(str(sizes[0]), {})
        split = " / ".join(f"{first[f'{p}_ms']:.0f}" for p in ("mold", "network", "unmold")) if first else "-"
        if "unmold_100_masks_ms" in first:
            split += f" ({first['unmold_100_masks_ms']:.0f})"
        ref = f"{r['reference_ms']:.0f}" if "reference_ms" in r else "-"
        row = [name, ref, f"{r['params'] / 1e6:.1f}"] + [_cell(r["detect"].get(str(s))) for s in sizes]
        row += [_cell(r["detect"].get(str(s)), "detect_100_masks_") for s in sizes] + [split]
        row += [_cell(r.get("train_step", {}).get(t)) for t in TRAIN_LAYERS]
        row += [_cell(r.get("batch", {}).get(str(b))) for b in batches]
        row += [f"{r['peak_rss']['mb']:.0f}" if "peak_rss" in r else "-"]
        lines.append("| " + " | ".join(row) + " |")
    if result["peers"]:
        lines += [
            "",
            "matterport TF2 port, measured in this run (x ref), and ours / the port's (< 1: we are faster):",
            "",
            "| | detect 512 | detect 1024 | train all | train heads |",
            "|---|---|---|---|---|",
        ]
        rows = list(result["peers"].items()) + [
            (f"{name} / {v['peer']}", v) for name, v in result.get("versus_peer", {}).items()
        ]
        for label, values in rows:
            cells = [f"{values[m]:.2f}x" if m in values else "-" for m in PEER_METRICS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for check in result["targets"]:
        lines.append(f"| {check['target']} | {check['value_x_ref']:.2f}x | {'yes' if check['met'] else 'NO'} |")
    return "\n".join(lines)


# ---- main ----------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--configs", default=DEFAULT_CONFIGS, help=f"comma list among {', '.join(CONFIGS)} (default: %(default)s)"
    )
    parser.add_argument("--sizes", default="512,1024", help="comma list of square input sizes (multiples of 64)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before each measurement")
    parser.add_argument("--out", default=None, help="JSON output path (default bench/results/<date>.json)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: mobile at 64, 1 run, no warm-up")
    parser.add_argument(
        "--profile",
        default="mobile,r101",
        help="comma list of measured configs to profile stage by stage (default: %(default)s)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the per-stage profiles")
    parser.add_argument(
        "--peer",
        default=None,
        metavar="PYTHON",
        help="also measure matterport's TF2 port in this run, with this interpreter of its TF 2.15 venv "
        f"(build it with {PEER_DIR / 'setup.sh'} VENV; then VENV/bin/python)",
    )
    parser.add_argument("--peer-no-train", action="store_true", help="time only the peer's detect()")
    parser.add_argument("--rss-probe", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--rss-detects", type=int, default=10, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.configs, args.sizes, args.runs, args.warmup, args.rss_detects = "mobile", "64", 1, 0, 1
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    args.profile = [] if args.no_profile else [c.strip() for c in args.profile.split(",") if c.strip() in args.configs]
    try:
        args.sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be a comma list of integers, got {args.sizes!r}")
    for name in args.configs:
        if name not in CONFIGS:
            parser.error(f"--configs: unknown config {name!r}; choose among {', '.join(CONFIGS)}")
    for size in args.sizes:
        if size <= 0 or size % 64:
            parser.error(f"--sizes: {size} is not a positive multiple of 64")
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")
    return args


def measure_config(name, args, plan, image, log):
    """Everything measured for one config: params, detect per size, batch scaling, train steps."""
    entry = {"detect": {}}
    for size in args.sizes:
        log(f"{name}: detect at {size} ...")
        batches = plan["batch_sizes"] if size == plan["train_size"] else ()
        measured = bench_inference(name, size, args.runs, args.warmup, batches, image)
        entry["params"] = measured["params"]
        entry["detect"][str(size)] = measured["detect"]
        if "batch" in measured:
            entry["batch"] = measured["batch"]
    log(f"{name}: train steps at {plan['train_size']} ...")
    entry["train_step"] = bench_training(name, plan["train_size"], plan["train_runs"], max(args.warmup, 1))
    return entry


def run(args, log=print):
    """Measure everything `args` asks for; returns the result dict (also holding the markdown table).

    The reference is measured just before each config (and before the profile), and each config's
    x ref uses its own, so a change of machine load between configs does not skew the ratios.
    """
    reference_ms = load_reference()
    load_start = os.getloadavg()[0]
    started = time.time()
    refs = []

    def reference():
        if args.quick and refs:
            return refs[0]
        log("measuring the reference (ResNet101 forward, 1x512x512x3) ...")
        refs.append(reference_ms(runs=1, warmup=0) if args.quick else reference_ms(runs=7, warmup=2))
        log(f"reference_ms {refs[-1]:.1f}")
        measure.free_memory()
        return refs[-1]

    rss = None
    if "mobile" in args.configs:  # First, while this process is small (see rss_probe).
        log("mobile: peak RSS of an inference-only subprocess ...")
        rss = peak_rss("mobile", 512 if 512 in args.sizes else args.sizes[0], args.rss_detects)
    image = bench_image()
    plan = {
        "sizes": args.sizes,
        "runs": args.runs,
        "warmup": args.warmup,
        "train_size": 512 if 512 in args.sizes else args.sizes[0],
        "train_runs": 1 if args.quick else args.runs,
        "batch_sizes": [1, 2] if args.quick else [1, 2, 4],
    }
    configs = {}
    for name in args.configs:
        ref = reference()
        configs[name] = {"reference_ms": ref, **measure.add_ratios(measure_config(name, args, plan, image, log), ref)}
        if name == "mobile":
            configs[name]["peak_rss"] = rss
    profile = {}
    for name in args.profile:
        ref = reference()
        log(f"{name}: profiling detect() at {plan['train_size']} ...")
        # Stage costs are differences of two medians: more runs keep the small ones above the noise.
        runs = 3 * args.runs if name == "mobile" and not args.quick else args.runs
        profile[name] = {
            "reference_ms": ref,
            **measure.add_ratios(profile_detect(name, plan["train_size"], runs, args.warmup, image), ref),
        }
    peers, peer_info = {}, None
    if args.peer:
        backbones = [b for b, (_, ours) in PEER_MODELS.items() if any(n in args.configs for n in ours)]
        ref = reference()
        log(f"peer: matterport TF2 port, {', '.join(backbones) or 'resnet101'} ...")
        peer = run_peer(args.peer, backbones or ["resnet101"], not args.peer_no_train, log)
        peers = peer_ratios(peer, ref)
        peer_info = {k: peer.get(k) for k in ("peer", "port_rev", "tensorflow", "keras", "numpy", "settings")}
    spread = (max(refs) - min(refs)) / min(refs)
    result = {
        "reference_ms": measure.median(refs),
        "reference_ms_all": refs,
        "conditions": CONDITIONS,
        "warnings": []
        if spread <= LOAD_WARNING
        else [
            f"The reference varied by {spread:.0%} within the run ({min(refs):.0f}-{max(refs):.0f} ms): "
            "the machine's load changed; rerun on an idle machine"
        ],
        "machine": {**measure.machine_info(), "load_average_1min_start_end": [load_start, os.getloadavg()[0]]},
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        **plan,
        "image_shape": list(IMAGE_SHAPE),
        "num_classes": NUM_CLASSES,
        "configs": configs,
        "profile": profile,
        "peers": peers,
        "peer_info": peer_info,
        "versus_peer": versus_peer(configs, peers),
    }
    result["targets"] = check_targets(result["configs"])
    result["seconds"] = round(time.time() - started, 1)
    result["table"] = markdown_table(result)
    return result


def main(argv=None):
    args = parse_args(argv)
    if args.rss_probe:
        print("peak_rss_mb {:.1f} {:.1f}".format(*rss_probe(args.rss_probe, args.sizes[0], args.rss_detects)))
        return 0
    try:
        result = run(args, log=lambda text: print(text, flush=True))
    except BenchError as err:
        print(f"bench: {err}", file=sys.stderr)
        return 2
    out = args.out or REPO / "bench" / "results" / f"{datetime.datetime.now():%Y%m%dT%H%M}.json"
    write_json(out, result)
    print()
    refs = ", ".join(f"{r:.1f}" for r in result["reference_ms_all"])
    print(f"reference_ms {result['reference_ms']:.1f} (median of {refs}); {CONDITIONS}")
    for warning in result["warnings"]:
        print(f"WARNING: {warning}")
    print()
    print(result["table"])
    for name, profile in result["profile"].items():
        print(
            f"\nWhere detect() of {name} at {profile['size']} spends its time "
            "(network stages timed as cumulative prefixes):"
        )
        for stage in profile["stages"]:
            print(f"  {stage['stage']:30} {stage['ms']:7.1f} ms  {stage['x_ref']:.3f}x ref")
    print(f"\nwrote {out} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
