"""bench/bench.py: options, configs, ratios, report, and a --quick run's JSON layout (not its timings)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from scripts import load_script

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench.py"


@pytest.fixture(scope="module")
def bench():
    return load_script("bench/bench.py")


def test_make_config_forces_the_peer_conditions(bench):
    for name, backbone in (("r50", "resnet50"), ("r101", "resnet101"), ("mobile", "mobilenet_v1")):
        config = bench.make_config(name, 512)
        assert config.BACKBONE == backbone
        assert tuple(config.IMAGE_SHAPE) == (512, 512, 3)
        assert config.NUM_CLASSES == 81
        assert config.DETECTION_MIN_CONFIDENCE == 0 and config.DETECTION_MAX_INSTANCES == 100
        assert config.BATCH_SIZE == 1
    assert bench.make_config("mobile", 256).TOP_DOWN_PYRAMID_SIZE == 64  # Still the slim MobileConfig.
    assert bench.make_config("r101", 1024, batch=4).BATCH_SIZE == 4
    assert bench.make_config("r101", 512).PRECISION == "float32"
    bf16 = bench.make_config("r101-bf16", 512)
    assert bf16.PRECISION == "mixed_bfloat16" and bf16.BACKBONE == "resnet101"
    with pytest.raises(bench.BenchError, match="Unknown config 'r101-fp8'"):
        bench.make_config("r101-fp8", 512)
    with pytest.raises(bench.BenchError, match="Unknown config 'r18'"):
        bench.make_config("r18", 512)


def test_parse_args(bench):
    quick = bench.parse_args(["--quick"])
    assert quick.configs == ["mobile"] and quick.sizes == [64] and quick.runs == 1 and quick.warmup == 0
    full = bench.parse_args(["--configs", "r50, r101", "--sizes", "512,1024", "--runs", "3"])
    assert full.configs == ["r50", "r101"] and full.sizes == [512, 1024] and full.runs == 3
    assert full.profile == ["r101"]  # Only measured configs are profiled.
    assert bench.parse_args([]).configs == ["r50", "r101", "mobile", "r50-bf16", "r101-bf16"]
    for bad in (["--sizes", "500"], ["--configs", "vgg"], ["--runs", "0"], ["--sizes", "x"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)


def test_missing_reference_tool_is_a_clear_error(bench, tmp_path, monkeypatch):
    monkeypatch.setattr(bench.measure, "TOOLS", tmp_path / "nowhere")
    with pytest.raises(bench.BenchError, match="reference_ms.py"):
        bench.load_reference()


def _result(bench):
    configs = {
        "r101": {
            "reference_ms": 200.0,
            "params": 63_000_000,
            "detect": {
                "512": {
                    "ms": 500.0,
                    "mold_ms": 10.0,
                    "network_ms": 400.0,
                    "unmold_ms": 90.0,
                    "unmold_100_masks_ms": 100.0,
                    "detect_100_masks_ms": 510.0,
                }
            },
            "train_step": {"all": {"ms": 2000.0}, "heads": {"ms": 1000.0}},
            "batch": {"1": {"ms": 500.0}, "2": {"ms": 450.0}},
        },
        "mobile": {
            "params": 3_000_000,
            "detect": {"512": {"ms": 120.0, "mold_ms": 5.0, "network_ms": 60.0, "unmold_ms": 55.0}},
            "peak_rss": {"mb": 900.0, "size": 512, "detects": 10},
        },
    }
    return {
        "sizes": [512],
        "batch_sizes": [1, 2],
        "train_size": 512,
        "peers": {},
        "configs": bench.measure.add_ratios(configs, ref=200.0),
    }


def test_ratios_targets_and_table(bench):
    result = _result(bench)
    detect = result["configs"]["r101"]["detect"]["512"]
    assert detect["x_ref"] == pytest.approx(2.5) and detect["unmold_x_ref"] == pytest.approx(0.45)
    assert result["configs"]["r101"]["train_step"]["all"]["x_ref"] == pytest.approx(10.0)
    checks = {c["target"]: c for c in bench.check_targets(result["configs"])}
    assert checks["R101 detect() at 512 <= 2.6x ref"]["value_x_ref"] == pytest.approx(2.55)  # The 100-masks figure.
    assert checks["R101 detect() at 512 <= 2.6x ref"]["met"] is True
    assert checks["R101 train step, all layers, at 512 <= 9x ref"]["met"] is False
    assert checks["mobile detect() at 512 <= 0.5x ref"]["value_x_ref"] == pytest.approx(0.6)
    assert not any(c["target"].startswith("R50") for c in checks.values())  # r50 was not measured.
    result["targets"] = list(checks.values())
    table = bench.markdown_table(result)
    row = "| r101 | 200 | 63.0 | 500 (2.50x) | 510 (2.55x) | 10 / 400 / 90 (100) | 2000 (10.00x) | 1000 (5.00x) |"
    assert row in table
    assert "| mobile | - | 3.0 | 120 (0.60x) | - | 5 / 60 / 55 |" in table and "| 900 |" in table
    assert "port" not in table  # peers appear only when measured in the same run (--peer)


def test_write_json_is_atomic(bench, tmp_path):
    path = tmp_path / "deep" / "out.json"
    bench.write_json(path, {"a": 1})
    with pytest.raises(TypeError):
        bench.write_json(path, {"a": object()})  # Not serialisable: the old file must survive intact.
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in path.parent.iterdir()] == ["out.json"]


@pytest.mark.slow
def test_quick_run_writes_the_documented_json(tmp_path):
    out = tmp_path / "quick.json"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--out", str(out)], capture_output=True, text=True, timeout=600, env=env
    )
    if done.returncode == 2 and "reference_ms.py" in done.stderr:
        pytest.skip(done.stderr.strip())
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| mobile |" in done.stdout and "port R101" not in done.stdout  # no --peer: no peer figures
    result = json.loads(out.read_text())
    assert isinstance(result["reference_ms"], float) and result["reference_ms"] > 0
    assert result["reference_ms_all"] == [result["reference_ms"]] and isinstance(result["warnings"], list)
    assert result["quick"] is True and result["sizes"] == [64]
    mobile = result["configs"]["mobile"]
    assert isinstance(mobile["params"], int) and mobile["params"] > 0
    assert mobile["reference_ms"] == result["reference_ms"]
    detect = mobile["detect"]["64"]
    for key in (
        "ms",
        "min_ms",
        "mold_ms",
        "network_ms",
        "unmold_ms",
        "x_ref",
        "mold_x_ref",
        "network_x_ref",
        "unmold_x_ref",
        "network_detections_per_image",
        "detections_per_image",
        "unmold_100_masks_ms",
        "detect_100_masks_ms",
        "detect_100_masks_x_ref",
    ):
        assert isinstance(detect[key], float), key
    assert detect["network_detections_per_image"] == 100  # Every slot is filled.
    assert detect["ms"] == pytest.approx(detect["mold_ms"] + detect["network_ms"] + detect["unmold_ms"], rel=0.5)
    assert set(mobile["train_step"]) == {"all", "heads"}
    assert all(isinstance(t["ms"], float) and t["ms"] > 0 for t in mobile["train_step"].values())
    assert set(mobile["batch"]) == {str(b) for b in result["batch_sizes"]}
    assert isinstance(mobile["peak_rss"]["mb"], float) and mobile["peak_rss"]["mb"] > 100
    assert mobile["peak_rss"]["vm_hwm_mb"] == pytest.approx(mobile["peak_rss"]["mb"], rel=0.2)
    stages = result["profile"]["mobile"]["stages"]
    assert stages[0]["stage"].startswith("mold") and stages[-1]["stage"].startswith("unmold")
    assert all(isinstance(s["ms"], float) and isinstance(s["x_ref"], float) for s in stages)
    assert result["peers"] == {} and result["versus_peer"] == {} and isinstance(result["targets"], list)
    assert result["table"].startswith("| config |")


def test_peer_figures_are_ratios_to_the_same_run_reference(bench, tmp_path):
    """run_peer runs the peer's script with its interpreter; the ratios use the reference measured beside it."""
    import json
    import sys

    fake = tmp_path / "measure.py"
    model = {
        "inference": {"512": {"ms_median": 1000.0}, "800/1024": {"ms_median": 2000.0}},
        "train_all": {"s_median": 3.0},
    }
    fake.write_text(
        "import json, sys\n"
        "out = sys.argv[sys.argv.index('--out') + 1]\n"
        f"json.dump({{'models': {{'matterport_maskrcnn_resnet101_fpn': {json.dumps(model)}}}}}, open(out, 'w'))\n"
    )
    peer = bench.run_peer(sys.executable, ["resnet101"], True, log=lambda text: None, script=fake)
    peers = bench.peer_ratios(peer, reference_ms=200.0)
    assert peers["port R101"]["detect_512"] == pytest.approx(5.0) and peers["port R101"]["train_all"] == 15.0
    configs = {"r101": {"detect": {"512": {"x_ref": 2.5}}, "train_step": {"all": {"x_ref": 10.0}}}}
    versus = bench.versus_peer(configs, peers)
    assert versus["r101"]["detect_512"] == pytest.approx(0.5) and versus["r101"]["train_all"] == pytest.approx(2 / 3)
    result = {**_result(bench), "peers": peers, "versus_peer": versus, "targets": []}
    table = bench.markdown_table(result)
    assert "| port R101 | 5.00x | 10.00x | 15.00x | - |" in table and "| r101 / port R101 | 0.50x |" in table
    with pytest.raises(bench.BenchError, match="no such interpreter"):
        bench.run_peer(tmp_path / "nope", ["resnet101"], True, log=lambda text: None)
