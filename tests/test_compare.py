"""backbones/compare.py: options, per-row configs, the table and README markers, and a --quick run's outputs."""

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
    assert quick.backbones == ["mobilenet_v2"] and quick.sizes == [128] and (quick.runs, quick.warmup) == (1, 0)
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
    assert full.sizes == [512, 1024] and full.image_size == 512
    assert Path(full.readme) == tmp_path / "README.md"


@pytest.mark.parametrize(
    "bad",
    [
        ["--image-size", "500"],
        ["--sizes", "512,x"],
        ["--epochs", "0"],
        ["--backbones", "vgg16"],
        ["--dataset", "/nowhere"],
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


def test_plot_writes_png(compare, tmp_path):
    path = tmp_path / "plot.png"
    compare.plot(_result(compare), path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    failed_only = dict(_result(compare), rows=_result(compare)["rows"][2:])
    compare.plot(failed_only, tmp_path / "empty.png")  # Every row failed: still a (labelled) plot.
    assert (tmp_path / "empty.png").stat().st_size > 1000


@pytest.mark.slow
def test_quick_run_writes_json_png_and_table(balloon, tmp_path):
    out = tmp_path / "results"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [
            sys.executable,
            str(COMPARE),
            "--quick",
            "--dataset",
            str(balloon),
            "--out",
            str(out),
            "--work",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    result = json.loads((out / "results.json").read_text())
    assert result["quick"] is True and result["reference_ms"] > 0 and result["sizes"] == [128]
    assert [row["name"] for row in result["rows"]] == ["mobilenet_v2"]
    for row in result["rows"]:
        assert {
            "params",
            "weights_mb",
            "detect",
            "train_step_ms",
            "train_step_x_ref",
            "peak_rss_mb",
            "mask_AP50",
            "mask_AP",
            "box_AP50",
            "box_AP",
            "images_seen",
            "epochs",
        } <= set(row)
        assert set(row["detect"]) == {"128"} and row["detect"]["128"]["x_ref"] > 0
        assert row["images_seen"] == 2 and row["params"] > 0 and row["peak_rss_mb"] > 100 and row["reference_ms"] > 0
        assert 0 <= row["mask_AP50"] <= 1 and Path(row["weights_file"]).stat().st_size == pytest.approx(
            row["weights_mb"] * 2**20
        )
    assert (out / "speed_vs_ap.png").read_bytes()[:4] == b"\x89PNG"
    readme = (tmp_path / "README.md").read_text()
    assert "| mobilenet_v2 | MobileNetV2 α1.0 | scratch | slim |" in readme and "--quick run" in readme


def test_ablation_rows_change_one_thing_each(compare, balloon):
    args = compare.parse_args(["--dataset", str(balloon), "--backbones", "ablation"])
    assert args.backbones == [f"ablation_{name}" for name in compare.ABLATION]
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
        ["--dataset", str(balloon), "--backbones", "ablation", "--init", str(start), "--epochs", "4"]
    )
    heads, base = compare.ABLATION["heads_only"], compare.ABLATION["base"]
    assert compare.row_stages(base, args, 0.01) == [(4, "all", 0.002)]
    assert compare.row_stages(heads, args, 0.01) == [(4, "heads", 0.002)]
    assert "--init" in compare.child_argv(args, "ablation_base", tmp_path / "r.json")
    args.init = None
    assert compare.row_stages(base, args, 0.01)[0][1] == "heads" and len(compare.row_stages(base, args, 0.01)) == 3
    with pytest.raises(SystemExit):
        compare.parse_args(["--dataset", str(balloon), "--init", str(tmp_path / "missing.h5")])
