"""samples/frisbee/frisbee.py: COCO loader flags, class count, bad --categories, and the CLI end to end."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scripts import load_script

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "samples" / "frisbee" / "frisbee.py"


@pytest.fixture(scope="module")
def frisbee():
    return load_script("samples/frisbee/frisbee.py")


@pytest.fixture
def coco_dir(tmp_path):
    """<tmp>/ann/inst_train.json + <tmp>/imgs_train/: image 1 has a frisbee and a kite, image 2 nothing kept."""
    (tmp_path / "imgs_train").mkdir()
    (tmp_path / "ann").mkdir()
    for i in (1, 2):
        Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "imgs_train" / f"{i}.jpg")
    data = {
        "images": [{"id": i, "file_name": f"{i}.jpg", "height": 20, "width": 30} for i in (1, 2)],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 34, "iscrowd": 0, "segmentation": [[2, 2, 10, 2, 10, 8, 2, 8]]},
            {"id": 2, "image_id": 1, "category_id": 38, "iscrowd": 0, "segmentation": [[12, 2, 20, 2, 20, 9]]},
            {"id": 3, "image_id": 2, "category_id": 1, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 5, 1, 5]]},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 34, "name": "frisbee"}, {"id": 38, "name": "kite"}],
    }
    (tmp_path / "ann" / "inst_train.json").write_text(json.dumps(data))
    return tmp_path


def parse(frisbee, argv):
    return frisbee.sample_cli.build_parser(frisbee.TASK).parse_args(argv)


def test_parse_categories_names_ids_and_repeats(frisbee):
    assert frisbee.parse_categories(" frisbee, 38,frisbee,,sports ball") == ["frisbee", 38, "sports ball"]
    with pytest.raises(frisbee.sample_cli.CommandError, match="--categories"):
        frisbee.parse_categories(" , ")


def test_num_classes_follows_categories(frisbee):
    args = parse(frisbee, ["train", "--categories", "frisbee,kite,1"])
    config = frisbee.sample_cli._config(frisbee.TASK, args)
    assert config.NUM_CLASSES == 4 and config.IMAGE_META_SIZE == 12 + 4
    assert frisbee.sample_cli._config(frisbee.TASK, parse(frisbee, ["train"])).NUM_CLASSES == 2


def test_loader_subset_templates_and_empty_images(frisbee, coco_dir):
    flags = ["--annotations", "ann/inst_{subset}.json", "--images", "imgs_{subset}", "--categories", "frisbee,38"]
    train = frisbee.load_frisbee(str(coco_dir), "train", parse(frisbee, ["train", *flags]))
    assert train.class_names == ["BG", "frisbee", "kite"]
    assert train.num_images == 1  # training drops the image without a frisbee or kite
    masks, class_ids = train.load_mask(0)
    assert masks.shape == (20, 30, 2) and sorted(class_ids) == [1, 2]
    evaluate = frisbee.load_frisbee(str(coco_dir), "train", parse(frisbee, ["evaluate", *flags]))
    assert evaluate.num_images == 2  # evaluation keeps every image of the split
    assert evaluate.load_mask(1)[0].shape[-1] == 0


def test_same_category_by_name_and_id_is_rejected(frisbee, coco_dir):
    args = parse(
        frisbee,
        ["train", "--annotations", "ann/inst_train.json", "--images", "imgs_train", "--categories", "frisbee,34"],
    )
    with pytest.raises(frisbee.DatasetError, match="same category"):
        frisbee.load_frisbee(str(coco_dir), "train", args)


def test_bad_category_name_exits_2_listing_valid_names(frisbee, coco_dir, tmp_path, capsys):
    argv = [
        "train",
        "--dataset",
        str(coco_dir),
        "--annotations",
        "ann/inst_{subset}.json",
        "--images",
        "imgs_{subset}",
        "--categories",
        "frisbee,dog",
        "--logs",
        str(tmp_path / "logs"),
    ]
    with pytest.raises(SystemExit) as exit_info:
        frisbee.sample_cli.run(frisbee.TASK, argv)
    assert exit_info.value.code == 2
    message = capsys.readouterr().err
    assert "unknown category name 'dog'" in message and "frisbee, kite, person" in message
    assert not (tmp_path / "logs").exists()


def run_cli(*args, cwd):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"frisbee.py {args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.mark.slow
def test_cli_train_evaluate_splash_end_to_end(shared_dir, tmp_path):
    logs = tmp_path / "logs"
    small = ["--limit", "2", "--image-size", "128", "--logs", str(logs)]
    run_cli("train", *small, "--steps", "1", "--epochs", "1", cwd=tmp_path)
    checkpoints = list(logs.glob("frisbee*/mask_rcnn_frisbee_0001.h5"))
    assert len(checkpoints) == 1

    out = tmp_path / "eval.json"
    stdout = run_cli("evaluate", *small, "--weights", "last", "--subset", "val", "--out", str(out), cwd=tmp_path)
    results = json.loads(out.read_text())
    for iou_type in ("segm", "bbox"):
        assert {"AP", "AP50", "AP75"} <= set(results[iou_type])
        assert "frisbee" in results[iou_type]["per_class"]
    assert results["num_images"] == 2
    assert out.with_suffix(".md").read_text().startswith("| IoU type |") and "| segm |" in stdout

    image = next((shared_dir / "datasets" / "frisbee" / "val").glob("*.jpg"))
    run_cli(
        "splash",
        *small,
        "--weights",
        str(checkpoints[0]),
        "--image",
        str(image),
        "--out-dir",
        str(tmp_path / "out"),
        cwd=tmp_path,
    )
    for suffix in ("splash", "overlay"):
        written = Image.open(tmp_path / "out" / f"{image.stem}_{suffix}.png")
        assert written.size == Image.open(image).size
