"""bench/serve_load.py: options, the level summary and table, clear errors, and a --quick run against the real API."""

import json
import subprocess
import sys

import pytest
from scripts import REPO, load_script

SCRIPT = REPO / "bench" / "serve_load.py"


@pytest.fixture(scope="module")
def serve_load():
    return load_script("bench/serve_load.py")


def test_parse_args(serve_load):
    quick = serve_load.parse_args(["--quick"])
    assert quick.requests == 2 and quick.clients == [2] and quick.warmup == 1
    full = serve_load.parse_args(["--clients", "4, 8,16", "--requests", "24", "--precision", "float32"])
    assert full.clients == [4, 8, 16] and full.requests == 24 and full.precision == "float32"
    assert serve_load.parse_args([]).clients == [4, 8]
    for bad in (["--clients", "x"], ["--clients", "0"], ["--requests", "0"], ["--precision", "fp16"]):
        with pytest.raises(SystemExit):
            serve_load.parse_args(bad)


def test_summary_counts_errors_and_rates(serve_load):
    replies = [(100.0, 60.0, None), (300.0, 80.0, None), (200.0, 70.0, None), (5.0, None, "HTTP 503: b'busy'")]
    level = serve_load.summarise(replies, clients=2, wall_s=0.5)
    assert level["requests"] == 4 and level["errors"] == 1 and level["error_samples"] == ["HTTP 503: b'busy'"]
    assert level["latency_ms"]["median"] == 200.0 and level["latency_ms"]["p90"] == pytest.approx(280.0)
    assert level["inference_ms_median"] == 70.0 and level["requests_per_s"] == 6.0  # 3 answered in 0.5 s
    table = serve_load.markdown_table({"reference_ms": 400.0, "levels": {"2": level}})
    assert table.splitlines()[2] == "| 2 | 4 | 1 | 200 (0.50x) | 280 | 70 | 6.00 |"
    failed = serve_load.summarise([(5.0, None, "URLError: refused")], clients=1, wall_s=0.1)
    assert failed["latency_ms"]["median"] is None and failed["requests_per_s"] == 0.0
    table = serve_load.markdown_table({"reference_ms": 400.0, "levels": {"1": failed}})
    assert table.endswith("| 1 | 1 | 1 | - | - | - | 0.00 |")


def test_missing_image_is_a_one_line_error(serve_load, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert serve_load.main(["--image", str(tmp_path / "none.jpg"), "--out", str(out)]) == 2
    assert "serve_load: --image" in capsys.readouterr().err and not out.exists()


@pytest.mark.slow
def test_quick_run_against_the_real_api(shared_dir, tmp_path):
    out = tmp_path / "serve.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["levels"]) == {"1", "2"}
    for level in result["levels"].values():
        assert level["requests"] == 2 and level["errors"] == 0, level["error_samples"]
        assert level["latency_ms"]["median"] > level["inference_ms_median"] > 0 and level["requests_per_s"] > 0
    assert result["server"]["precision"] == "float32"  # the tests' MRCNN_PRECISION reaches the server
    assert result["machine"]["cpu_count"] >= 1 and len(result["reference_ms_all"]) == 2
    assert (result["image"]["width"], result["image"]["height"]) == (683, 1024)
    assert "| clients | requests | errors |" in done.stdout and result["table"] in done.stdout
