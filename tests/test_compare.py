"""backbones/compare.py: options, per-row configs, budgets, tables, plots, README markers, and a --quick run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripts import load_script

COMPARE = Path(__file__).resolve().parents[1] / "backbones" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    return load_script("backbones/compare.py")


@pytest.fixture()
def balloon(shared_dir):
    folder = shared_dir / "datasets" / "balloon"
    if not (folder / "train" / "via_region_data.json").is_file():
        pytest.skip(f"balloon dataset not found in {folder}")
    return folder


def test_parse_args_quick_and_defaults(compare, balloon, tmp_path):
    quick = compare.parse_args(["--quick", "--dataset", str(balloon), "--work", str(tmp_path)])
    assert (quick.epochs, quick.steps, quick.limit, quick.image_size) == (1, 1, 2, 128)
    assert quick.parts == ["shapes", "transfer", "cost"] and quick.backbones == ["mobilenet_v1_a025"]
    assert quick.sizes == [128] and (quick.runs, quick.warmup, quick.train_runs) == (1, 0, 1)
    assert (quick.shapes_train, quick.shapes_size, quick.shapes_epochs, quick.shapes_steps) == (4, 128, 1, 1)
    assert quick.cost_widths == ("slim",) and quick.transfer_inits == ("imagenet",) and quick.rows == []
    assert Path(quick.out) == tmp_path / "quick" / "results"  # A smoke run never replaces the study.
    full = compare.parse_args(
        [
            "--dataset",
            str(balloon),
            "--backbones",
            "resnet50,mobilenet_v2",
            "mobilenet_v1_a025",
            "--out",
            str(tmp_path / "res"),
        ]
    )
    assert full.backbones == ["resnet50", "mobilenet_v2", "mobilenet_v1_a025"]
    assert full.sizes == [512, 768, 1024] and full.image_size == 512 and full.cost_widths == ("slim", "full")
    assert Path(full.readme) == tmp_path / "README.md"
    study = compare.parse_args(["--dataset", str(balloon)])
    assert study.backbones == list(compare.STUDY) and (study.shapes_train, study.shapes_size) == (2000, 256)


@pytest.mark.parametrize(
    "bad",
    [
        ["--image-size", "500"],
        ["--sizes", "512,x"],
        ["--epochs", "0"],
        ["--backbones", "vgg16"],
        ["--dataset", "/nowhere"],
        ["--parts", "shapes,speed"],
        ["--shapes-size", "100"],
        ["--shapes-evals", "0"],
        ["--backbones", "ablation"],  # balloon rows need --parts balloon
    ],
)
def test_parse_args_rejects_bad_options(compare, balloon, bad, capsys):
    argv = ["--dataset", str(balloon)] + bad if bad[0] != "--dataset" else bad
    with pytest.raises(SystemExit):
        compare.parse_args(argv)
    assert "error:" in capsys.readouterr().err


def test_rows_state_init_widths_and_epochs(compare):
    variants = compare.VARIANTS
    assert {n for n, v in variants.items() if v.weights == "imagenet"} == {
        "mobilenet_v1_a075",
        "mobilenet_v1_a075_full",
        "mobilenet_v1_a025",
    }
    assert [n for n, v in variants.items() if v.widths == "full"] == ["mobilenet_v1_a075_full"]
    assert compare.variant_epochs(variants["resnet101"], 8) == 4
    assert compare.variant_epochs(variants["mobilenet_v2"], 8) == 8
    assert compare.variant_epochs(variants["resnet50"], 1) == 1


def test_study_rows_share_init_and_heads(compare):
    assert {v.weights for v in compare.STUDY.values()} == {"scratch"} and compare.CHECK_KEY in compare.STUDY
    assert {v.widths for v in compare.STUDY.values()} == {"slim"}
    assert compare.STUDY["mobilenet_v3"].backbone == "mobilenet_v3"
    pairs = {name: compare.TRANSFER_ROWS[name] for names in compare.TRANSFER.values() for name in names.values()}
    assert sorted((v.options["alpha"], v.weights) for v in pairs.values()) == [
        (0.25, "imagenet"),
        (0.25, "scratch"),
        (0.75, "imagenet"),
        (0.75, "scratch"),
    ]
    assert compare.resolve_variant("transfer_mobilenet_v1_a075_scratch").label == "MobileNet v1 α0.75, random init"
    assert compare.parse_cost_name(compare.cost_name("mobilenet_v3", "full", 768)) == ("mobilenet_v3", "full", 768)
    assert [compare.row_kind(n) for n in ("shapes_resnet50", "cost_resnet50_slim_512", "ablation_base")] == [
        "shapes",
        "cost",
        "balloon",
    ]


def test_shapes_config_and_schedule(compare):
    slim = compare.shapes_config(compare.STUDY["resnet50"], 256, 250)
    full = compare.shapes_config(
        compare.dataclasses.replace(compare.STUDY["resnet50"], widths="full"), 512, 1, inference=True
    )
    assert slim.NUM_CLASSES == 4 and slim.TRAIN_BN is True and slim.BATCH_SIZE == 2 and slim.STEPS_PER_EPOCH == 250
    assert slim.PRECISION == full.PRECISION == "float32"
    assert tuple(slim.RPN_ANCHOR_SCALES) == (16, 32, 64, 128, 256) and slim.TOP_DOWN_PYRAMID_SIZE == 64
    assert tuple(full.RPN_ANCHOR_SCALES) == (32, 64, 128, 256, 512) and full.TOP_DOWN_PYRAMID_SIZE == 256
    assert full.BATCH_SIZE == 1 and full.POST_NMS_ROIS_INFERENCE == slim.POST_NMS_ROIS_INFERENCE  # Only widths differ.
    assert compare.shapes_stages(4, 0.01) == [(3, "all", 0.01), (4, "all", 0.001)]
    assert compare.shapes_stages(1, 0.01) == [(1, "all", 0.01)]


def test_shapes_datasets_are_seeded_and_held_out(compare, tmp_path):
    args = compare.parse_args(["--parts", "shapes", "--shapes-train", "3", "--shapes-val", "2", "--shapes-size", "128"])
    train, val = compare.shapes_datasets(args)
    again, _ = compare.shapes_datasets(args)
    assert (len(train.image_ids), len(val.image_ids)) == (3, 2) and train.load_image(0).shape == (128, 128, 3)
    assert (train.load_image(1) == again.load_image(1)).all()  # Seeded: every row sees the same images.
    assert train.image_info[0]["shapes"] != val.image_info[0]["shapes"]  # Another seed for the held-out set.


def test_resume_keys_and_child_options_per_row_kind(compare, balloon, tmp_path):
    args = compare.parse_args(["--dataset", str(balloon), "--work", str(tmp_path), "--resume"])
    path = tmp_path / "result.json"
    compare.write_json(path, {"name": "s", "budget": compare.budget_key(args, "shapes")})
    assert compare.stored_row(args, path, "shapes")["name"] == "s" and compare.stored_row(args, path) is None
    args.shapes_steps = 10
    assert compare.stored_row(args, path, "shapes") is None
    transfer = compare.row_args(args, "transfer_mobilenet_v1_a025_imagenet")
    assert transfer.sizes == [512] and args.sizes == [512, 768, 1024]  # The cost part times every size.
    argv = compare.child_argv(args, "cost_resnet50_slim_512", tmp_path / "r.json")
    assert argv[argv.index("--sizes") + 1] == "512,768,1024" and argv[argv.index("--shapes-steps") + 1] == "10"
    assert "--quick" not in argv and "--init" not in argv


def test_rise_check(compare):
    def curve(*aps):
        return [{"val_mask_AP": ap, "images_seen": 100 * (i + 1)} for i, ap in enumerate(aps)]

    rising = compare.rise_check({"name": "r", "curve": curve(0.1, 0.2, 0.3)})
    assert rising["rising"] is True and rising["gain"] == pytest.approx(0.1) and rising["from_images"] == 200
    assert compare.rise_check({"name": "r", "curve": curve(0.3, 0.305)})["rising"] is False
    assert compare.rise_check({"name": "r", "curve": curve(0.3)})["rising"] is None
    assert "still rising" in compare.check_text(rising) and "+0.100 from 200 to 300" in compare.check_text(rising)


def test_study_config_widths_anchors_and_bn(compare):
    slim = compare.study_config(compare.VARIANTS["mobilenet_v1_a075"], 512, 30)
    full = compare.study_config(
        compare.VARIANTS["mobilenet_v1_a075_full"], 384, 30, inference=True, min_confidence=0.05
    )
    assert (slim.TOP_DOWN_PYRAMID_SIZE, slim.RPN_CONV_CHANNELS, slim.MASK_HEAD_CONVS) == (64, 64, 2)
    assert (full.TOP_DOWN_PYRAMID_SIZE, full.RPN_CONV_CHANNELS, full.MASK_HEAD_CONVS) == (256, 512, 4)
    assert tuple(slim.RPN_ANCHOR_SCALES) == (16, 32, 64, 128, 256)
    assert tuple(full.RPN_ANCHOR_SCALES) == (12, 24, 48, 96, 192)
    assert full.BATCH_SIZE == 1 and full.DETECTION_MIN_CONFIDENCE == 0.05 and tuple(full.IMAGE_SHAPE[:2]) == (384, 384)
    assert slim.TRAIN_BN is False and compare.study_config(compare.VARIANTS["resnet50"], 512, 30).TRAIN_BN is True
    assert slim.BACKBONE_OPTIONS == {"alpha": 0.75} and slim.STEPS_PER_EPOCH == 30


def test_step_summary_skips_tracing_batch(compare):
    times = {"heads@0.01": [9000, 100, 120], "all@0.002": [8000, 300, 310, 320], "all@0.0002": [7000, 330]}
    assert compare.summarise_steps(times)["heads@0.01"] == {"median_ms": 110, "steps": 3}
    assert compare.train_step_ms(times) == pytest.approx(315)  # All-layers batches only, tracing batches out.
    assert compare.train_step_ms({"heads@0.01": [5000]}) == 5000


def _result(compare):
    row = {
        "name": "mobilenet_v1_a075",
        **compare.dataclasses.asdict(compare.VARIANTS["mobilenet_v1_a075"]),
        "epochs": 8,
        "images_seen": 480,
        "params": 2_500_000,
        "weights_mb": 10.2,
        "detect": {"512": {"ms": 80.0}, "1024": {"ms": 200.0}},
        "train_step_ms": 400.0,
        "peak_rss_mb": 1500.0,
        "mask_AP50": 0.8,
        "mask_AP": 0.5,
        "box_AP50": 0.82,
        "box_AP": 0.55,
        "timing_image_shape": [768, 1024, 3],
        "reference_ms": 200.0,
        "load_average_start_end": [2.1, 2.0],
    }
    short = dict(row, name="resnet101", backbone="resnet101", label="ResNet-101", weights="scratch", epochs=4)
    failed = {
        "name": "resnet50",
        **compare.dataclasses.asdict(compare.VARIANTS["resnet50"]),
        "error": "exit 1: boom|x",
        "load_average_start_end": [3.0, 2.0],
    }
    rows = [compare.timing_ratios(r, 200.0) for r in (row, short, failed)]
    return {
        "rows": rows,
        "sizes": [512, 1024],
        "epochs": 8,
        "runs": 7,
        "warmup": 2,
        "budget": "Budget: test.",
        "reference_ms": 200.0,
        "seconds": 60,
        "rows_seconds": 1800,
        "quick": False,
        "machine": {"cpu_count": 2},
        "date": "today",
        "image_size": 512,
    }


def test_table_rows_ratios_and_failures(compare):
    table = compare.markdown_table(_result(compare))
    lines = table.splitlines()
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|") == lines[4].count("|")
    assert (
        "| mobilenet_v1_a075 | MobileNet v1 α0.75 (the mobile config) | ImageNet | slim | 8 (480) | 2.50 | 10.2 "
        "| 80 (0.40×) | 200 (1.00×) | 0.40 (2.0×) | 1500 | 0.800 | 0.500 | 0.820 | 0.550 |"
    ) in table
    assert "| resnet101 | ResNet-101 | scratch | slim | 4 (480) **fewer** |" in table
    assert "failed: exit 1: boom/x" in table and "1024×768 px" in table and "its own row's): 200, 200 ms" in table
    assert "row's start: 2.1, 2.1, 3.0" in table and "took 30.0 min in all (this invocation 1.0 min" in table


def test_resume_reuses_a_row_only_under_the_same_budget(compare, balloon, tmp_path):
    args = compare.parse_args(["--dataset", str(balloon), "--work", str(tmp_path), "--resume"])
    path = tmp_path / "result.json"
    compare.write_json(path, {"name": "x", "budget": compare.budget_key(args)})
    assert compare.stored_row(args, path)["name"] == "x"
    args.epochs = 9
    assert compare.stored_row(args, path) is None
    args.epochs, args.resume = 8, False
    assert compare.stored_row(args, path) is None


def test_readme_table_is_replaced_between_markers(compare, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nIntro.\n")
    compare.write_readme(readme, "| first |")
    readme.write_text(readme.read_text() + "\n## Discussion\nkept\n")
    compare.write_readme(readme, "| second |")
    text = readme.read_text()
    assert "| second |" in text and "| first |" not in text
    assert text.count(compare.TABLE_START) == 1 and text.startswith("# Title") and text.endswith("kept\n")


def _study(compare):
    """A shapes and a cost result: two backbones, one failed cost cell."""
    common = {"quick": False, "machine": {"cpu_count": 2}, "date": "today", "seconds": 60, "rows_seconds": 600}
    curve = [{"val_mask_AP": 0.1, "images_seen": 1000}, {"val_mask_AP": 0.3, "images_seen": 2000}]
    shapes = [
        {
            "name": f"shapes_{key}",
            "key": key,
            **compare.dataclasses.asdict(compare.STUDY[key]),
            "params": 3_000_000,
            "train_step_ms": 250.0,
            "images_seen": 2000,
            "mask_AP50": 0.6,
            "mask_AP": 0.3,
            "box_AP50": 0.7,
            "box_AP": 0.4,
            "curve": curve,
            "losses": [{"epoch": 4, "loss": 1.234}],
        }
        for key in ("mobilenet_v1_a075", "resnet50")
    ]
    macs = {"body": 2e9, "fpn_rpn": 1e9, "heads": 0.5e9, "total": 3.5e9, "rois": {"roi_align_classifier": 300,
            "roi_align_mask": 50}}  # fmt: skip
    detect = {"ms": 120.0, "x_ref": 0.6, "network_ms": 100.0, "network_detections_per_image": 50.0}
    cost = [
        {
            "name": compare.cost_name(key, "slim", 512),
            "key": key,
            **compare.dataclasses.asdict(compare.STUDY[key]),
            "size": 512,
            "params": 3_000_000,
            "weights_mb": 11.5,
            "macs": macs,
            "detect": {"512": detect},
            "network_x_floor": 2.5,
            "train_step_ms": 900.0,
            "train_x_floor": 4.0,
            "peak_rss_mb": 2000.0,
            "mac_rate_gmacs": 80.0,
        }
        for key in ("mobilenet_v1_a075", "resnet50")
    ]
    cost.append({**compare.describe_row(compare.cost_name("resnet50", "full", 512)), "error": "exit 1: oom|x"})
    shapes_result = {**common, "rows": shapes, "budget": "Shapes budget: test.", "check": compare.rise_check(shapes[0])}
    return shapes_result, {**common, "rows": cost, "budget": "Cost: test.", "reference_ms": 200.0}


def test_shapes_and_cost_tables(compare):
    shapes, cost = _study(compare)
    table = compare.shapes_table(shapes)
    lines = table.splitlines()
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|")
    assert (
        "| shapes_mobilenet_v1_a075 | MobileNet v1 α0.75 | 3.00 | 0.25 | 2000 | 0.600 | 0.300 | 0.700 | 0.400 "
        "| 0.100 → 0.300 | 1.23 |"
    ) in table
    assert (
        "Budget check (shapes_mobilenet_v1_a075): mask AP +0.200 from 1000 to 2000 images seen, still rising" in table
    )
    assert "taken at 1000, 2000 images seen" in table and "Shapes budget: test." in table
    table = compare.cost_table(cost)
    lines = table.splitlines()
    assert lines[0].count("|") == lines[1].count("|") == lines[2].count("|") == lines[4].count("|")
    assert (
        "| cost_resnet50_slim_512 | ResNet-50 | slim | 512² | 3.00 | 11.5 | 2.00 | 1.00 | 0.50 | 3.50 | 120 (0.60×) "
        "| 100 (2.5×) | 0.90 (4.0×) | 2000 |"
    ) in table
    assert "| cost_resnet50_full_512 | ResNet-50 | full | 512² | failed: exit 1: oom/x |" in table
    assert "300 box-head ROIs and 50 mask ROIs" in table and "slots filled while timing: 50" in table
    assert "80–80 GMAC/s" in table and "200 ms" in table


def test_study_plots_write_png(compare, tmp_path):
    shapes, cost = _study(compare)
    compare.plot_study(shapes, cost, tmp_path / "study.png")
    compare.plot_cost(cost, tmp_path / "cost.png")
    for name in ("study.png", "cost.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    compare.plot_cost(dict(cost, rows=cost["rows"][2:]), tmp_path / "empty.png")  # Every cell failed.
    assert (tmp_path / "empty.png").stat().st_size > 1000


def test_readme_blocks_per_part(compare, tmp_path):
    readme = tmp_path / "README.md"
    compare.write_readme(readme, "| shapes |", "shapes")
    compare.write_readme(readme, "| cost |", "cost")
    compare.write_readme(readme, "| shapes 2 |", "shapes")
    text = readme.read_text()
    assert "| shapes 2 |" in text and "| shapes |" not in text and "| cost |" in text
    assert text.index(compare.markers("shapes")[0]) < text.index(compare.markers("cost")[0])


def test_plot_writes_png(compare, tmp_path):
    path = tmp_path / "plot.png"
    compare.plot(_result(compare), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    failed_only = dict(_result(compare), rows=_result(compare)["rows"][2:])
    compare.plot(failed_only, tmp_path / "empty.png")  # Every row failed: still a (labelled) plot.
    assert (tmp_path / "empty.png").stat().st_size > 1000


@pytest.mark.slow
def test_quick_run_writes_every_part(balloon, tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    argv = [sys.executable, str(COMPARE), "--quick", "--dataset", str(balloon), "--out", str(out)]
    done = subprocess.run(
        argv + ["--work", str(tmp_path / "work")], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    shapes, transfer, cost = (json.loads((out / f"{part}.json").read_text()) for part in ("shapes", "transfer", "cost"))
    assert all(part["quick"] is True for part in (shapes, transfer, cost))
    (row,) = shapes["rows"]
    assert row["name"] == "shapes_mobilenet_v1_a025" and row["weights"] == "scratch" and row["images_seen"] == 2
    assert [point["epoch"] for point in row["curve"]] == [1] and 0 <= row["mask_AP50"] <= 1 and row["losses"]
    assert shapes["check"]["row"] == row["name"]
    (row,) = transfer["rows"]
    assert row["name"] == "transfer_mobilenet_v1_a025_imagenet" and row["weights"] == "imagenet"
    assert set(row["detect"]) == {"128"} and row["detect"]["128"]["x_ref"] > 0 and row["reference_ms"] > 0
    assert Path(row["weights_file"]).stat().st_size == pytest.approx(row["weights_mb"] * 2**20)
    (row,) = cost["rows"]
    assert row["name"] == "cost_mobilenet_v1_a025_slim_128" and row["size"] == 128
    assert row["macs"]["total"] == sum(row["macs"][k] for k in ("body", "fpn_rpn", "heads")) > 0
    assert row["macs"]["rois"] == {"roi_align_classifier": 300, "roi_align_mask": 50}
    assert row["detect"]["128"]["network_detections_per_image"] == 50  # Every slot filled, as counted.
    assert row["network_x_floor"] > 0 and row["train_x_floor"] > 0 and row["mac_rate_gmacs"] > 0
    assert row["train_step_ms"] > 0 and row["peak_rss_mb"] > 100 and row["weights_mb"] > 1
    for name in ("shapes_speed_vs_ap.png", "cost_breakdown.png", "transfer_speed_vs_ap.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    readme = (tmp_path / "README.md").read_text()
    assert "| shapes_mobilenet_v1_a025 | MobileNet v1 α0.75" not in readme and "| shapes_mobilenet_v1_a025 |" in readme
    assert "| transfer_mobilenet_v1_a025_imagenet | MobileNet v1 α0.25, ImageNet | ImageNet | slim |" in readme
    assert "| cost_mobilenet_v1_a025_slim_128 | MobileNet v1 α0.25 | slim | 128² |" in readme
    assert readme.count("--quick run") == 3


def test_ablation_rows_change_one_thing_each(compare, balloon):
    args = compare.parse_args(["--dataset", str(balloon), "--parts", "balloon", "--backbones", "ablation"])
    assert args.rows == [f"ablation_{name}" for name in compare.ABLATION] and args.backbones == []
    from balloon import BalloonConfig  # compare put samples/balloon on sys.path

    rows = {name: compare.resolve_variant(f"ablation_{name}") for name in compare.ABLATION}
    config = {name: compare.study_config(row, compare.row_image_size(row, args), 30) for name, row in rows.items()}
    base = config["base"]
    assert base.TOP_DOWN_PYRAMID_SIZE == BalloonConfig.TOP_DOWN_PYRAMID_SIZE  # Balloon's own widths.
    assert base.IMAGE_MAX_DIM == args.image_size == 512
    assert tuple(base.RPN_ANCHOR_SCALES) == tuple(
        round(s * 512 / compare.ANCHOR_REFERENCE_SIZE) for s in BalloonConfig.RPN_ANCHOR_SCALES
    )
    assert tuple(config["anchors_x2"].RPN_ANCHOR_SCALES) == tuple(2 * s for s in base.RPN_ANCHOR_SCALES)
    assert config["rois_32"].TRAIN_ROIS_PER_IMAGE == 32 and base.TRAIN_ROIS_PER_IMAGE != 32
    assert config["size_384"].IMAGE_MAX_DIM == 384
    assert config["size_384"].RPN_ANCHOR_SCALES[-1] == round(base.RPN_ANCHOR_SCALES[-1] * 384 / 512)
    assert rows["heads_only"].layers == "heads" and rows["base"].layers is None
    assert base.COPY_PASTE_PROB == 0 and config["copy_paste"].COPY_PASTE_PROB == 0.5  # off unless the row says


def test_rows_from_a_fixed_starting_point(compare, balloon, tmp_path):
    start = tmp_path / "start.h5"
    start.write_bytes(b"")
    args = compare.parse_args(
        [
            "--dataset",
            str(balloon),
            "--parts",
            "balloon",
            "--backbones",
            "ablation",
            "--init",
            str(start),
            "--epochs",
            "4",
        ]
    )
    heads, base = compare.ABLATION["heads_only"], compare.ABLATION["base"]
    assert compare.row_stages(base, args, 0.01) == [(4, "all", 0.002)]
    assert compare.row_stages(heads, args, 0.01) == [(4, "heads", 0.002)]
    assert "--init" in compare.child_argv(args, "ablation_base", tmp_path / "r.json")
    args.init = None
    assert compare.row_stages(base, args, 0.01)[0][1] == "heads" and len(compare.row_stages(base, args, 0.01)) == 3
    with pytest.raises(SystemExit):
        compare.parse_args(["--dataset", str(balloon), "--init", str(tmp_path / "missing.h5")])
