#!/usr/bin/env python
"""Same weights, same numbers: mrcnn against matterport's own code (issue 17), stage by stage.

    python bench/parity.py [--backbones resnet101,resnet50] [--seed 0] [--out bench/results/parity_DATE.json]
                           [--peer-python /work/runs/peer-venv/bin/python]
                           [--port ../shared/peers/matterport_tf2] [--keep DIR]

For each backbone, bench/parity_peer.py runs in the peer's interpreter (the matterport TF2 port, TF 2.15): it builds
the port's inference model (81 classes, IMAGE 1024 square, DETECTION_MIN_CONFIDENCE 0, seeded random weights; see
its docstring), saves the weights in the port's layout, molds a seeded 768x1024 image the port's way and dumps the
port's outputs. The image is 1024x1024 by default, so that the molded image has no padding: matterport clips
detections to the image window in-graph (before its NMS), mrcnn to the whole molded image (the window is applied
when unmolding), and with padding the two keep different detections in the padding (--image-hw 768 1024 shows it).
Here an mrcnn model with the same config and matterport's conventions loads that file
(`load_weights(path, by_name=True)`, the matterport loader) and runs the same molded input (plus MEAN_PIXEL: mrcnn
takes raw pixels and subtracts it in-graph). Reported per stage: correlation and max abs difference (features, RPN
probabilities, class probabilities of the same proposals, masks of matched detections), the share of anchors whose
RPN foreground probability differs by more than 1e-3, the overlap of the top-1000 anchors by score and of the
1000 proposals (IoU >= 0.99), and detections matched by box IoU >= 0.9 with the same class.
Boxes are compared in pixels, each side's normalisation undone with its own convention.
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from bench.parity_peer import feature_taps  # noqa: E402  (no mrcnn or port import)
from mrcnn.engine.atomic import write_json  # noqa: E402

PEER_PYTHON = "/work/runs/peer-venv/bin/python"
PORT = REPO.parent / "shared" / "peers" / "matterport_tf2"
TARGET = {"rpn_prob_tolerance": 1e-3, "rpn_share_allowed": 0.001, "detection_iou": 0.9}


def ours_config(backbone):
    from mrcnn.config import Config

    return Config(
        NAME="parity",
        NUM_CLASSES=81,
        GPU_COUNT=1,
        IMAGES_PER_GPU=1,
        BACKBONE=backbone,
        IMAGE_MIN_DIM=800,
        IMAGE_MAX_DIM=1024,
        DETECTION_MIN_CONFIDENCE=0.0,
        PRECISION="float32",
        # matterport's conventions (a matterport file sets them on load; given here so the run says so)
        RPN_ANCHOR_OFFSET=0.0,
        DETECTION_PER_CLASS=False,
        **MATTERPORT_KEYS,
    )


MATTERPORT_KEYS = {"RESNET_STEM": "matterport", "ROI_ALIGN": "matterport", "BOX_NORMALIZATION": "matterport"}


def run_peer(peer_python, port, backbone, seed, workdir, reuse=False, image_hw=(1024, 1024)):
    weights = Path(workdir) / f"{backbone}_matterport.h5"
    dump = Path(workdir) / f"{backbone}_peer.npz"
    if reuse and weights.exists() and dump.exists():
        return weights, dict(np.load(dump))
    command = [
        peer_python,
        str(REPO / "bench" / "parity_peer.py"),
        "--port",
        str(port),
        "--backbone",
        backbone,
        "--weights",
        str(weights),
        "--dump",
        str(dump),
        "--seed",
        str(seed),
        "--image-hw",
        *(str(v) for v in image_hw),
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", OMP_NUM_THREADS="1")
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"the peer failed ({' '.join(command)}):\n{tail}")
    return weights, dict(np.load(dump))


def run_ours(backbone, weights, peer):
    import keras

    from mrcnn.model import MaskRCNN

    model = MaskRCNN("inference", ours_config(backbone), tempfile.mkdtemp(prefix="parity_logs_"))
    model.load_weights(str(weights), by_name=True)
    km = model.keras_model
    names = {
        **feature_taps(backbone),
        "rpn_class": "rpn_class",
        "anchors": "anchors",
        "proposals": "ROI",
        "mrcnn_class": "mrcnn_class",
        "detections": "mrcnn_detection",
        "masks": "mrcnn_mask_select",
    }
    probe = keras.Model(km.inputs, [km.get_layer(n).output for n in names.values()])
    raw = (peer["molded"] + peer["mean_pixel"])[None].astype(np.float32)
    values = probe.predict_on_batch(raw)
    out = {name: np.asarray(v) for name, v in zip(names, values)}
    out = {k: (v if k == "anchors" else v[0]) for k, v in out.items()}
    body = km.get_layer(model.config.BACKBONE)
    stem = keras.Model(body.inputs, body.get_layer("conv1_conv").output)
    out["conv1"] = np.asarray(stem.predict_on_batch(raw))[0]
    return out, model.load_report


def feature_stats(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    corr = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else float(np.array_equal(a, b))
    return {"corr": corr, "max_abs_diff": float(np.abs(a - b).max()), "scale": float(np.abs(a).max())}


def pixels_matterport(boxes, shape):
    """matterport's denorm_boxes without rounding: boxes * (H - 1, W - 1) + (0, 0, 1, 1)."""
    h, w = shape
    return np.asarray(boxes, np.float64) * np.array([h - 1, w - 1, h - 1, w - 1]) + np.array([0, 0, 1, 1])


def pixels_ours(boxes, shape, convention):
    if convention == "matterport":
        return pixels_matterport(boxes, shape)
    h, w = shape
    return np.asarray(boxes, np.float64) * np.array([h, w, h, w])


def iou_matrix(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    y1 = np.maximum(a[:, None, 0], b[None, :, 0])
    x1 = np.maximum(a[:, None, 1], b[None, :, 1])
    y2 = np.minimum(a[:, None, 2], b[None, :, 2])
    x2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(y2 - y1, 0, None) * np.clip(x2 - x1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_match(iou, threshold, allowed=None):
    """Pairs (i, j) matched greedily by IoU >= threshold (and allowed[i, j] if given), each index once."""
    iou = np.where(allowed, iou, 0.0) if allowed is not None else iou.copy()
    pairs = []
    while iou.size and iou.max() >= threshold:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        pairs.append((int(i), int(j)))
        iou[i, :] = 0
        iou[:, j] = 0
    return pairs


def compare(peer, ours, convention):
    shape = peer["molded"].shape[:2]
    report = {}
    for name in ("conv1", "C2", "C3", "C4", "C5", "P2", "P3", "P4", "P5", "P6"):
        report[name] = feature_stats(peer[name], ours[name])
    p_fg, o_fg = peer["rpn_class"][:, 1], ours["rpn_class"][:, 1]
    diff = np.abs(p_fg - o_fg)
    top_p, top_o = np.argsort(-p_fg)[:1000], np.argsort(-o_fg)[:1000]
    report["rpn_probs"] = {
        **feature_stats(p_fg, o_fg),
        "anchors": int(len(p_fg)),
        "share_diff_gt_1e-3": float((diff > 1e-3).mean()),
        "share_diff_gt_1e-2": float((diff > 1e-2).mean()),
        "top1000_anchor_overlap": float(len(np.intersect1d(top_p, top_o)) / 1000),
    }
    a_p, a_o = pixels_matterport(peer["anchors"], shape), pixels_ours(ours["anchors"], shape, convention)
    report["anchors"] = {"count_peer": int(len(a_p)), "count_ours": int(len(a_o))}
    if len(a_p) == len(a_o):
        report["anchors"]["max_abs_diff_px"] = float(np.abs(a_p - a_o).max())
    prop_p = pixels_matterport(peer["proposals"], shape)
    prop_o = pixels_ours(ours["proposals"], shape, convention)
    iou = iou_matrix(prop_p, prop_o)
    best = iou.max(axis=1)
    pairs = greedy_match(iou, 0.99)
    report["proposals"] = {
        "count": int(len(prop_p)),
        "share_matched_iou_0.99": float(len(pairs) / len(prop_p)),
        "share_same_rank_iou_0.99": float(np.mean(np.diag(iou) >= 0.99)),
        "median_best_iou": float(np.median(best)),
    }
    if pairs:
        i, j = np.array(pairs).T
        report["class_probs"] = {**feature_stats(peer["mrcnn_class"][i], ours["mrcnn_class"][j]), "rois": len(pairs)}
        report["class_probs"]["same_top_class"] = float(
            np.mean(peer["mrcnn_class"][i].argmax(-1) == ours["mrcnn_class"][j].argmax(-1))
        )
    det_p = peer["detections"][peer["detections"][:, 5] > 0]
    det_o = ours["detections"][ours["detections"][:, 5] > 0]
    box_p, box_o = pixels_matterport(det_p[:, :4], shape), pixels_ours(det_o[:, :4], shape, convention)
    same_class = det_p[:, None, 4] == det_o[None, :, 4]
    det_pairs = greedy_match(iou_matrix(box_p, box_o), TARGET["detection_iou"], same_class)
    report["detections"] = {
        "peer": int(len(det_p)),
        "ours": int(len(det_o)),
        "matched_iou_0.9_same_class": len(det_pairs),
        "share_of_peer_matched": float(len(det_pairs) / max(len(det_p), 1)),
    }
    if det_pairs:
        i, j = np.array(det_pairs).T
        report["detections"]["score_max_abs_diff"] = float(np.abs(det_p[i, 5] - det_o[j, 5]).max())
        peer_masks = peer["mrcnn_mask"][i, :, :, det_p[i, 4].astype(int)]
        report["masks"] = {**feature_stats(peer_masks, ours["masks"][j]), "detections": len(det_pairs)}
    rpn = report["rpn_probs"]
    report["target_met"] = {
        "rpn_probs": rpn["share_diff_gt_1e-3"] <= TARGET["rpn_share_allowed"],
        "proposals": report["proposals"]["share_matched_iou_0.99"] >= 0.999,
        "detections": len(det_pairs) == len(det_p) == len(det_o),
    }
    return report


ROWS = [
    ("conv1", "corr"),
    ("C2", "corr"),
    ("C3", "corr"),
    ("C4", "corr"),
    ("C5", "corr"),
    ("P2", "corr"),
    ("P6", "corr"),
]


def markdown_table(result):
    backbones = list(result["backbones"])
    lines = ["| stage | " + " | ".join(backbones) + " |", "|---|" + "---|" * len(backbones)]

    def row(label, fn):
        cells = []
        for b in backbones:
            try:
                cells.append(fn(result["backbones"][b]))
            except KeyError:
                cells.append("–")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for name in ("conv1", "C2", "C3", "C4", "C5", "P2", "P3", "P4", "P5", "P6"):
        row(
            f"{name}: corr / max abs diff (scale)",
            lambda r, n=name: f"{r[n]['corr']:.6f} / {r[n]['max_abs_diff']:.2g} ({r[n]['scale']:.3g})",
        )
    row(
        "RPN fg prob: corr / max abs diff",
        lambda r: f"{r['rpn_probs']['corr']:.6f} / {r['rpn_probs']['max_abs_diff']:.2g}",
    )
    row("anchors with RPN prob diff > 1e-3", lambda r: f"{100 * r['rpn_probs']['share_diff_gt_1e-3']:.3f} %")
    row("top-1000 anchors in common", lambda r: f"{100 * r['rpn_probs']['top1000_anchor_overlap']:.1f} %")
    row("anchors: max abs diff (px)", lambda r: f"{r['anchors']['max_abs_diff_px']:.3g}")
    row("proposals matched (IoU >= 0.99)", lambda r: f"{100 * r['proposals']['share_matched_iou_0.99']:.1f} %")
    row("proposals, same rank (IoU >= 0.99)", lambda r: f"{100 * r['proposals']['share_same_rank_iou_0.99']:.1f} %")
    row(
        "class probs (matched ROIs): corr / max abs diff",
        lambda r: f"{r['class_probs']['corr']:.6f} / {r['class_probs']['max_abs_diff']:.2g}",
    )
    row(
        "detections matched (IoU >= 0.9, same class)",
        lambda r: (
            f"{r['detections']['matched_iou_0.9_same_class']} of {r['detections']['peer']} "
            f"(mrcnn {r['detections']['ours']})"
        ),
    )
    row(
        "masks (matched): corr / max abs diff", lambda r: f"{r['masks']['corr']:.6f} / {r['masks']['max_abs_diff']:.2g}"
    )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="resnet101,resnet50")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--image-hw",
        type=int,
        nargs=2,
        default=(1024, 1024),
        metavar=("H", "W"),
        help="test image size (default 1024 1024: no padding, see the module doc)",
    )
    parser.add_argument("--out", default=None, help="JSON path (default bench/results/parity_DATE.json)")
    parser.add_argument("--peer-python", default=PEER_PYTHON)
    parser.add_argument("--port", default=str(PORT), help="directory holding the port's mrcnn package")
    parser.add_argument("--keep", default=None, help="keep the peer's weights and dumps in this directory")
    parser.add_argument("--reuse", action="store_true", help="with --keep: reuse the peer's files found there")
    args = parser.parse_args(argv)
    args.backbones = [b.strip() for b in args.backbones.split(",") if b.strip()]
    bad = [b for b in args.backbones if b not in ("resnet101", "resnet50")]
    if bad:
        parser.error(f"--backbones takes resnet101 and resnet50 (the port's backbones), got {bad}")
    if not Path(args.peer_python).exists():
        parser.error(f"--peer-python {args.peer_python} does not exist (see ../shared/peers/matterport_tf2/setup.sh)")
    if not (Path(args.port) / "mrcnn" / "model.py").exists():
        parser.error(f"--port {args.port} holds no mrcnn/model.py")
    return args


def main(argv=None):
    args = parse_args(argv)
    date = datetime.date.today().strftime("%Y%m%d")
    out = Path(args.out or REPO / "bench" / "results" / f"parity_{date}.json")
    result = {
        "command": "python bench/parity.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "seed": args.seed,
        "image_hw": list(args.image_hw),
        "target": TARGET,
        "ours_config": {},
        "backbones": {},
    }
    workdir = args.keep or tempfile.mkdtemp(prefix="parity_")
    os.makedirs(workdir, exist_ok=True)
    for backbone in args.backbones:
        print(f"[{backbone}] the port (peer venv) ...", flush=True)
        weights, peer = run_peer(args.peer_python, args.port, backbone, args.seed, workdir, args.reuse, args.image_hw)
        print(f"[{backbone}] mrcnn ...", flush=True)
        ours, load_report = run_ours(backbone, weights, peer)
        config = ours_config(backbone)
        convention = getattr(config, "BOX_NORMALIZATION", "mrcnn")
        report = compare(peer, ours, convention)
        report["load"] = {k: len(v) for k, v in load_report.items()}
        result["backbones"][backbone] = report
        result["ours_config"] = {
            k: config.to_dict()[k] for k in ["RPN_ANCHOR_OFFSET", "DETECTION_PER_CLASS", *MATTERPORT_KEYS]
        }
        if not args.keep:
            for path in (weights, Path(workdir) / f"{backbone}_peer.npz"):
                path.unlink(missing_ok=True)
    table = markdown_table(result)
    result["markdown"] = table
    write_json(out, result)
    print(table)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
