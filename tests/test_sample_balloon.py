"""samples/balloon/balloon.py end to end on a 2-image subset, plus its input checks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mrcnn.engine.recipe import Stage, default_schedule

REPO = Path(__file__).resolve().parents[1]
BALLOON = REPO.parent / "shared" / "datasets" / "balloon"
SCRIPT = REPO / "samples" / "balloon" / "balloon.py"


def run(*args, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{args[0]} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


@pytest.mark.slow
@pytest.mark.skipif(not BALLOON.is_dir(), reason="needs ../shared/datasets/balloon")
def test_train_evaluate_splash_on_two_images(tmp_path):
    common = ["--dataset", str(BALLOON), "--logs", str(tmp_path / "logs"), "--image-size", "128", "--limit", "2"]
    run("train", *common, "--weights", "imagenet", "--epochs", "1", "--steps", "1")
    checkpoints = list((tmp_path / "logs").glob("balloon*/mask_rcnn_balloon_0001.h5"))
    assert len(checkpoints) == 1
    out = tmp_path / "eval.json"
    run("evaluate", *common, "--weights", "last", "--out", str(out))
    results = json.loads(out.read_text())
    assert {"AP", "AP50", "per_class"} <= set(results["segm"]) and "AP50" in results["bbox"]
    assert results["num_images"] == 2 and out.with_suffix(".md").is_file()
    image = sorted((BALLOON / "val").glob("*.jpg"))[0]
    run("splash", *common, "--weights", str(checkpoints[0]), "--image", str(image), "--out-dir", str(tmp_path))
    assert (tmp_path / f"{image.stem}_splash.png").is_file() and (tmp_path / f"{image.stem}_overlay.png").is_file()


def test_user_errors_exit_2_with_one_line(tmp_path):
    result = run("evaluate", "--dataset", str(tmp_path / "missing"), "--weights", str(tmp_path / "w.h5"), check=False)
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    result = run("splash", "--weights", "x.h5", check=False)
    assert result.returncode == 2 and "--image" in result.stderr


def test_default_schedule_trains_heads_first():
    assert default_schedule(80, 0.01) == [Stage(16, "heads", 0.01), Stage(68, "all", 0.002), Stage(80, "all", 0.0002)]
    assert default_schedule(1, 0.01) == [Stage(1, "heads", 0.01)]
    assert default_schedule(5, 0.01, layers="4+") == [Stage(5, "4+", 0.01)]


def test_progressive_resizing_ends_at_the_largest_size():
    assert default_schedule(90, 0.01, (512, 1024)) == [
        Stage(9, "heads", 0.01, 512),
        Stage(27, "all", 0.002, 512),
        Stage(76, "all", 0.002, 1024),
        Stage(90, "all", 0.0002, 1024),
    ]
    assert [s.image_size for s in default_schedule(20, 0.01, (256, 384, 512))] == [256, 256, 384, 512, 512]
    assert default_schedule(10, 0.01, (256, 512), layers="all") == [Stage(10, "all", 0.01, 512)]


def test_matterport_balloon_notebook_calls(tmp_path):
    # inspect_balloon_data / inspect_balloon_model: BalloonDataset().load_balloon(dir, subset), prepare(),
    # load_mask, and balloon.color_splash(image, masks), on a tiny VIA folder written here.
    import importlib.util

    import numpy as np
    from PIL import Image

    spec = importlib.util.spec_from_file_location("balloon", SCRIPT)
    balloon = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(balloon)
    folder = tmp_path / "val"
    folder.mkdir()
    Image.fromarray(np.full((40, 60, 3), 90, np.uint8)).save(folder / "a.jpg")
    region = {"shape_attributes": {"name": "polygon", "all_points_x": [10, 30, 30], "all_points_y": [5, 5, 25]}}
    (folder / "via_region_data.json").write_text(json.dumps({"a.jpg1": {"filename": "a.jpg", "regions": [region]}}))
    dataset = balloon.BalloonDataset()
    dataset.load_balloon(str(tmp_path), "val")
    dataset.prepare()
    assert dataset.class_names == ["BG", "balloon"] and len(dataset.image_ids) == 1
    mask, class_ids = dataset.load_mask(0)
    assert mask.shape == (40, 60, 1) and list(class_ids) == [1] and mask[6, 25, 0] and not mask[20, 12, 0]
    splash = balloon.color_splash(dataset.load_image(0), mask)
    assert splash.shape == (40, 60, 3) and splash.dtype == np.uint8
