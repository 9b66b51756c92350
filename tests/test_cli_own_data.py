"""`mrcnn train|evaluate|predict|serve` end to end on small synthetic datasets of every load_dataset format.

The data: six 128-px images of two classes (cat squares, dog triangles), one without instances, written by the test
as COCO, VIA, LabelMe, YOLO-seg or mask PNGs; with ``bad=True`` image 2 also holds one malformed annotation. The
models are tiny (tests/tiny.py sizes via --set) and train one epoch from random weights: a few seconds each.
"""

import contextlib
import io
import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mrcnn.cli import main
from mrcnn.datasets import FORMATS, load_dataset

SIZE = 128
CLASSES = ("cat", "dog")
SCENES = {  # image stem: [(class, polygon vertices in pixels)]
    "1": [("cat", [(10, 10), (50, 10), (50, 50), (10, 50)]), ("dog", [(70, 70), (120, 70), (95, 115)])],
    "2": [("cat", [(60, 20), (110, 20), (110, 60), (60, 60)])],
    "3": [("dog", [(20, 60), (70, 60), (45, 110)])],
    "4": [("dog", [(10, 80), (60, 80), (35, 120)]), ("cat", [(70, 10), (115, 10), (115, 55), (70, 55)])],
    "5": [("cat", [(30, 30), (90, 30), (90, 90), (30, 90)])],
    "6": [],
}
BAD_IMAGE, BAD_SHAPE = "2", ("cat", [(5, 5), (20, 5)])  # a polygon of 2 points
COLOURS = {"cat": (230, 60, 40), "dog": (40, 90, 230)}
TINY = [
    "BACKBONE_OPTIONS={'alpha':0.25}", "TOP_DOWN_PYRAMID_SIZE=32", "RPN_CONV_CHANNELS=32",
    "FPN_CLASSIF_FC_LAYERS_SIZE=64", "MASK_HEAD_CHANNELS=16", "MASK_HEAD_CONVS=1",
    "RPN_ANCHOR_SCALES=(8,16,32,64,128)", "TRAIN_ROIS_PER_IMAGE=32", "PRE_NMS_LIMIT=500",
    "POST_NMS_ROIS_TRAINING=200", "POST_NMS_ROIS_INFERENCE=100", "DATA_WORKERS=1", "COPY_PASTE_PROB=0",
]  # fmt: skip
# Where each format's loader points at the bad annotation of image 2 (file and index).
BAD_WHERE = {
    "coco": r"instances\.json: annotation 4: .*at least 3 points",
    "via": r"via_region_data\.json: region 1: image '2\.png\d*': polygon needs at least 3 points",
    "labelme": r"2\.json: shape 1: polygon needs at least 3 points",
    "yolo": r"2\.txt: line 2: .*at least 3",
    "masks": r"masks/2\.png: instance 3: unknown class",
}


def _scenes(bad, classes=CLASSES):
    scenes = {stem: [s for s in shapes if s[0] in classes] for stem, shapes in SCENES.items()}
    if bad:
        scenes[BAD_IMAGE] = scenes[BAD_IMAGE] + [BAD_SHAPE]
    return scenes


def _draw(path, shapes):
    image = Image.new("RGB", (SIZE, SIZE), (120, 120, 120))
    for name, points in shapes:
        if len(points) >= 3:
            ImageDraw.Draw(image).polygon(points, fill=COLOURS.get(name, (0, 200, 0)))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def _coco(root, scenes):
    images, annotations = [], []
    for stem, shapes in scenes.items():
        _draw(root / "images" / f"{stem}.png", shapes)
        images.append({"id": int(stem), "file_name": f"{stem}.png", "width": SIZE, "height": SIZE})
        for name, points in shapes:
            xs, ys = np.array(points, np.float64).T
            area = 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))  # shoelace (COCOeval needs it)
            annotations.append({"id": len(annotations) + 1, "image_id": int(stem), "iscrowd": 0, "area": area,
                                "category_id": CLASSES.index(name) + 1, "segmentation": [np.ravel(points).tolist()],
                                "bbox": [xs.min(), ys.min(), np.ptp(xs), np.ptp(ys)]})  # fmt: skip
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
    path = root / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def _via_region(name, points):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    shape = {"name": "polygon", "all_points_x": xs, "all_points_y": ys}
    return {"shape_attributes": shape, "region_attributes": {"class": name}}


def _via(root, scenes):
    data = {}
    for stem, shapes in scenes.items():
        _draw(root / f"{stem}.png", shapes)
        regions = [_via_region(name, points) for name, points in shapes]
        data[f"{stem}.png"] = {"filename": f"{stem}.png", "size": 0, "regions": regions, "file_attributes": {}}
    (root / "via_region_data.json").write_text(json.dumps(data))
    return root


def _labelme(root, scenes):
    for stem, shapes in scenes.items():
        _draw(root / f"{stem}.png", shapes)
        data = {"version": "5.0", "imagePath": f"{stem}.png", "imageData": None, "imageHeight": SIZE,
                "imageWidth": SIZE, "shapes": [{"label": name, "shape_type": "polygon", "points": points}
                                               for name, points in shapes]}  # fmt: skip
        (root / f"{stem}.json").write_text(json.dumps(data))
    return root


def _yolo(root, scenes):
    (root / "labels").mkdir(parents=True)
    for stem, shapes in scenes.items():
        _draw(root / "images" / f"{stem}.png", shapes)
        lines = []
        for name, points in shapes:
            points = points if len(points) >= 3 else points[:1]  # 2 points would read as a YOLO box (cx cy w h)
            lines.append(" ".join([str(CLASSES.index(name))] + [f"{v / SIZE:.4f}" for p in points for v in p]))
        if lines:  # no label file: a negative
            (root / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def _masks(root, scenes, bad):
    """Id maps: instance 1 is a cat and 2 a dog (classes.json); the bad annotation is an id 3 without a class."""
    (root / "masks").mkdir(parents=True)
    for stem, shapes in scenes.items():
        shapes = [s for s in shapes if len(s[1]) >= 3]
        _draw(root / "images" / f"{stem}.png", shapes)
        if not shapes:
            continue  # no mask file: a negative
        ids = Image.new("L", (SIZE, SIZE), 0)
        for name, points in shapes:
            ImageDraw.Draw(ids).polygon(points, fill=CLASSES.index(name) + 1)
        if bad and stem == BAD_IMAGE:
            ImageDraw.Draw(ids).rectangle((2, 100, 12, 110), fill=3)
        ids.save(root / "masks" / f"{stem}.png")
    (root / "classes.json").write_text(json.dumps({"1": "cat", "2": "dog"}))
    return root


def write_data(root, fmt, bad=False, classes=CLASSES):
    """The scenes (only `classes`) in format `fmt` under `root`; returns the DATA path to give `mrcnn`."""
    root.mkdir(parents=True, exist_ok=True)
    scenes = _scenes(bad, classes)
    if fmt == "masks":
        return _masks(root, scenes, bad)
    return {"coco": _coco, "via": _via, "labelme": _labelme, "yolo": _yolo}[fmt](root, scenes)


def train_args(data, out, *extra):
    tiny = [arg for setting in TINY for arg in ("--set", setting)]
    return ["train", str(data), "--out", str(out), "--weights", "none", "--epochs", "1", "--image-size", "128",
            *tiny, *extra]  # fmt: skip


def one_line_error(capsys, *parts):
    """The captured stderr is one line naming every part, without a traceback."""
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """trained(fmt) -> (data, run folder, stdout) of `mrcnn train --skip-bad` on that format's data with its bad
    annotation; each format trains once per module (the evaluate and predict tests share the COCO run)."""
    runs = {}

    def train(fmt):
        if fmt not in runs:
            root = tmp_path_factory.mktemp(fmt)
            data, out, stdout = write_data(root / "data", fmt, bad=True), root / "run", io.StringIO()
            test = ["--test", str(data)] if fmt == "coco" else []  # the COCO run is also scored on a test split
            with contextlib.redirect_stdout(stdout):
                assert main(train_args(data, out, "--skip-bad", *test)) == 0
            runs[fmt] = data, out, stdout.getvalue()
        return runs[fmt]

    return train


@pytest.mark.parametrize("fmt", sorted(BAD_WHERE))
def test_bad_annotation_stops_train_before_anything_is_written(tmp_path, capsys, fmt):
    data, out = write_data(tmp_path / "data", fmt, bad=True), tmp_path / "run"
    assert main(train_args(data, out)) == 2
    err = one_line_error(capsys, f"mrcnn train: error: {data}")
    assert re.search(BAD_WHERE[fmt], err) and "skip_bad=True" not in err, err
    assert "pass --skip-bad to drop it" in err  # the hint names the CLI flag
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", sorted(BAD_WHERE))
def test_train_one_epoch_on_each_format(trained, fmt):
    from mrcnn.weights.h5 import read_metadata

    data, out, stdout = trained(fmt)
    assert "skipped: " in stdout and re.search(BAD_WHERE[fmt].split(": ", 1)[0], stdout)
    for name in ("best.h5", "last.h5", "val_ap.json", "eval.json", "eval.md", "curves.png", "split.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    metadata = read_metadata(out / "best.h5")
    assert metadata["config"]["NUM_CLASSES"] == 3 and metadata["class_names"] == ["BG", "cat", "dog"]
    assert metadata["config"]["IMAGE_MAX_DIM"] == 128
    split = json.loads((out / "split.json").read_text())
    overlays = sorted(p.name for p in (out / "overlays").glob("*.jpg"))
    assert overlays and overlays == sorted(f"{p.split('/')[-1].rsplit('.', 1)[0]}.jpg" for p in split["val"])
    assert Image.open(out / "curves.png").format == "PNG"
    per_class = json.loads((out / "eval.json").read_text())["segm"]["per_class"]
    assert sorted(per_class) == ["cat", "dog"]
    assert json.loads((out / "val_ap.json").read_text())["best_epoch"] == 1
    if fmt == "coco":  # --test: best.h5 scored once more on it, reported apart, and the overlap named
        assert "segm" in json.loads((out / "eval.json").read_text())["test"] and split["test"]
        assert "on test (" in (out / "eval.md").read_text() and "not unbiased" in stdout
    assert not list(out.rglob("*.tmp*"))  # atomic writes leave no temp file


@pytest.fixture
def no_training(monkeypatch):
    """Replace the training run by a recorder of its datasets: the split tests need no model."""
    from mrcnn.engine import recipe

    calls = []
    monkeypatch.setattr(recipe, "run_training", lambda config, train, val, *a, **k: calls.append((config, train, val)))
    return calls


def _classes_by_image(data):
    dataset = load_dataset(data)
    return {
        str(dataset.image_info[i]["path"]): {dataset.class_names[c] for c in dataset.load_mask(i)[1]}
        for i in dataset.image_ids
    }


def test_holdout_is_seeded_and_holds_each_class(tmp_path, capsys, no_training):
    data = write_data(tmp_path / "data", "labelme")
    splits = []
    for run in ("a", "b"):
        assert main(train_args(data, tmp_path / run)) == 0
        splits.append(json.loads((tmp_path / run / "split.json").read_text()))
    assert splits[0] == splits[1] and "seeded 15% hold-out" in splits[0]["val_source"]
    assert "hold-out" in capsys.readouterr().out
    classes = _classes_by_image(data)
    train, val = splits[0]["train"], splits[0]["val"]
    assert val and sorted(train + val) == sorted(classes) and not set(train) & set(val)
    assert set().union(*(classes[p] for p in val)) == set(CLASSES)
    config, train_set, val_set = no_training[-1]
    assert config.NUM_CLASSES == 3 and config.STEPS_PER_EPOCH == len(train) // 2 + len(train) % 2
    assert [str(val_set.image_info[i]["path"]) for i in val_set.image_ids] == val


def test_val_data_takes_the_train_class_order(tmp_path, capsys, no_training):
    data = write_data(tmp_path / "train", "via")
    val = write_data(tmp_path / "val", "via", classes=("dog",))  # alone its classes would be BG, dog
    assert load_dataset(val).class_names == ["BG", "dog"]
    assert main(train_args(data, tmp_path / "run", "--val", str(val))) == 0
    _, train_set, val_set = no_training[-1]
    assert val_set.class_names == train_set.class_names == ["BG", "cat", "dog"]
    assert {c for i in val_set.image_ids for c in val_set.load_mask(i)[1]} == {2}
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["val_source"] == str(val) and len(split["train"]) == len(split["val"]) == 6
    bird = write_data(tmp_path / "bird", "via")
    text = (bird / "via_region_data.json").read_text().replace('"dog"', '"bird"')
    (bird / "via_region_data.json").write_text(text)
    capsys.readouterr()
    assert main(train_args(data, tmp_path / "run2", "--val", str(bird))) == 2
    one_line_error(capsys, "class 'bird' is not in class_names")
    assert not (tmp_path / "run2").exists()


def test_bad_paths_and_flags_exit_2_with_one_line(tmp_path, capsys):
    data = write_data(tmp_path / "data", "via")
    assert main(train_args(tmp_path / "missing", tmp_path / "run")) == 2
    one_line_error(capsys, f"{tmp_path / 'missing'}: no such file or folder")
    (tmp_path / "file").write_text("not a folder")
    assert main(train_args(data, tmp_path / "file")) == 2
    one_line_error(capsys, f"--out {tmp_path / 'file'}: not a writable folder")
    assert main(train_args(data, tmp_path / "file" / "run")) == 2
    one_line_error(capsys, "not a writable folder")
    assert main(train_args(data, tmp_path / "run", "--weights", str(tmp_path / "gone.h5"))) == 2
    one_line_error(capsys, f"--weights {tmp_path / 'gone.h5'}: no such file")
    assert not (tmp_path / "run").exists()
    with pytest.raises(SystemExit) as stop:  # an argparse usage error: exit 2, the usage then one error line
        main(train_args(data, tmp_path / "run", "--sizes", "100"))
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith("--sizes '100': each size must be a multiple of 64")


def test_splits_without_instances_and_missing_images_stop_before_anything_is_written(tmp_path, capsys):
    """A val (or train) split with no instance would train, then fail or learn nothing: it stops first, in one line.
    A COCO json whose images are elsewhere names the CLI flag."""
    data, out = write_data(tmp_path / "data", "coco"), tmp_path / "run"
    negatives = _coco(tmp_path / "negatives", {"6": [], "7": []})
    assert main(train_args(data, out, "--val", str(negatives))) == 2
    one_line_error(capsys, f"--val {negatives}: none of its 2 images has an instance", "annotate some")
    assert main(train_args(negatives, out)) == 2
    one_line_error(capsys, f"{negatives}: none of its 2 images has an instance, so there is nothing to learn")
    shutil.rmtree(tmp_path / "negatives" / "images")
    assert main(train_args(negatives, out)) == 2
    one_line_error(capsys, "image '6.png' not found beside the json", "pass --images <folder>")
    assert not out.exists()


@pytest.mark.slow
def test_evaluate_writes_per_class_table_and_refuses_other_classes(trained, tmp_path, capsys):
    _, run, _ = trained("coco")
    data = write_data(tmp_path / "data", "coco")
    assert main(["evaluate", str(run / "best.h5"), str(data), "--out", str(tmp_path / "eval")]) == 0
    results = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert sorted(results["segm"]["per_class"]) == sorted(results["bbox"]["per_class"]) == ["cat", "dog"]
    table = (tmp_path / "eval" / "eval.md").read_text()
    assert "| cat |" in table and "| dog |" in table and "(6 images)" in table
    other = write_data(tmp_path / "other", "via")
    text = (other / "via_region_data.json").read_text().replace('"cat"', '"bird"')
    (other / "via_region_data.json").write_text(text)
    capsys.readouterr()
    assert main(["evaluate", str(run / "best.h5"), str(other), "--out", str(tmp_path / "eval2")]) == 2
    one_line_error(capsys, "are not the model's")
    assert not (tmp_path / "eval2").exists()


@pytest.fixture
def images(tmp_path):
    """A folder of the six images, named 1.png .. 6.png (COCO-style numeric names)."""
    folder = tmp_path / "images"
    folder.mkdir()
    source = write_data(tmp_path / "gt", "coco").parent / "images"
    for path in source.glob("*.png"):
        shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.slow
def test_predict_coco_results_load_in_pycocotools(trained, images, tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    _, run, _ = trained("coco")
    out = tmp_path / "out"
    args = ["predict", str(run / "best.h5"), str(images), "--out", str(out), "--format", "coco"]
    assert main([*args, "--min-confidence", "0"]) == 0
    results = json.loads((out / "coco_results.json").read_text())
    assert results and not (out / "image_ids.json").exists()  # numeric names are the image ids
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(tmp_path / "gt" / "instances.json"))
        detections = gt.loadRes(str(out / "coco_results.json"))
        for kind in ("segm", "bbox"):
            evaluation = COCOeval(gt, detections, kind)
            evaluation.evaluate()
            evaluation.accumulate()
            evaluation.summarize()
            assert len(evaluation.stats) == 12 and np.all(evaluation.stats[:2] >= 0)
    assert {r["image_id"] for r in results} <= set(gt.getImgIds()) == set(range(1, 7))
    assert {r["category_id"] for r in results} <= {1, 2} and len(detections.anns) == len(results)

    renumbered = json.loads((tmp_path / "gt" / "instances.json").read_text())
    renumbered["categories"] = [{"id": 90 - c["id"], "name": c["name"]} for c in renumbered["categories"]]
    (tmp_path / "renumbered.json").write_text(json.dumps(renumbered))
    assert main([*args, "--min-confidence", "0", "--categories", str(tmp_path / "renumbered.json")]) == 0
    mapped = json.loads((out / "coco_results.json").read_text())
    assert [90 - r["category_id"] for r in mapped] == [r["category_id"] for r in results]


def test_predict_categories_names_must_match(tmp_path):
    from mrcnn.cli.common import CommandError
    from mrcnn.cli.predict import category_map

    path = tmp_path / "cats.json"
    path.write_text(json.dumps({"categories": [{"id": 34, "name": "frisbee"}, {"id": 1, "name": "person"}]}))
    assert category_map(path, ["BG", "frisbee"]) == {1: 34}
    with pytest.raises(CommandError, match="no category named 'dog'; the file has: frisbee, person"):
        category_map(path, ["BG", "frisbee", "dog"])
    path.write_text("[]")
    with pytest.raises(CommandError, match="not a COCO json"):
        category_map(path, ["BG", "frisbee"])


@pytest.mark.slow
def test_predict_skips_a_corrupt_image_and_writes_the_others(trained, images, tmp_path, capsys):
    _, run, _ = trained("coco")
    (images / "7.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    assert main(["predict", str(run / "best.h5"), str(images), "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "skipped: " in captured.out and "7.png" in captured.out
    assert captured.err.strip() == "mrcnn predict: 1 of 7 image(s) could not be read and were skipped"
    assert sorted(p.name for p in out.iterdir()) == [f"{i}_overlay.jpg" for i in range(1, 7)]


@pytest.mark.slow
@pytest.mark.parametrize("fmt, suffix", [("splash", "_splash.jpg"), ("json", ".json")])
def test_predict_splash_and_json(trained, images, tmp_path, fmt, suffix):
    _, run, _ = trained("coco")
    out = tmp_path / "out"
    args = ["predict", str(run / "best.h5"), str(images / "1.png"), str(images / "2.png"), "--out", str(out)]
    assert main([*args, "--format", fmt, "--min-confidence", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"1{suffix}", f"2{suffix}"]
    if fmt == "splash":
        assert Image.open(out / "1_splash.jpg").size == (SIZE, SIZE)
        return
    data = json.loads((out / "1.json").read_text())
    assert (data["height"], data["width"]) == (SIZE, SIZE) and data["instances"]
    assert {i["class_name"] for i in data["instances"]} <= set(CLASSES)
    assert np.all([len(i["box_yxyx"]) == 4 for i in data["instances"]])


def test_help_lists_the_commands_and_serve_help_works(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0
    for command in ("train", "evaluate", "predict", "serve", "inspect", "export"):
        assert command in out
    assert all(name in out for name in FORMATS)  # the data formats, as `mrcnn train --help` promises
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--help"])
    assert stop.value.code == 0 and "usage: mrcnn serve" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["train", "{missing}", "--out", "{tmp}/run"], ["inspect", "{missing}"],
                                     ["evaluate", "{tmp}/missing.h5", "{missing}"]])  # fmt: skip
def test_bad_path_is_one_line_before_tensorflow_starts(tmp_path, command):
    """TensorFlow prints its own notices to stderr when it loads: a bad path must be refused before that."""
    argv = [a.format(missing=tmp_path / "no_such_data", tmp=tmp_path) for a in command]
    done = subprocess.run([sys.executable, "-m", "mrcnn", *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"mrcnn {command[0]}: error: "), done.stderr
    assert not (tmp_path / "run").exists()


def test_a_run_that_fails_before_its_first_checkpoint_leaves_no_folder(tmp_path, capsys, monkeypatch):
    from mrcnn.data.errors import AnnotationError
    from mrcnn.engine import recipe

    def fail(config, train, val, out, *args, **kwargs):
        (out / "mrcnn20260101T0000").mkdir()  # as the TensorBoard logs of a first step would
        raise AnnotationError("image 'a' (id 0): load_mask returned 2 masks for 1 class id")

    monkeypatch.setattr(recipe, "run_training", fail)
    data, out = write_data(tmp_path / "data", "coco"), tmp_path / "run"
    assert main(train_args(data, out)) == 2
    one_line_error(capsys, "mrcnn train: error: image 'a'")
    assert not out.exists()
    out.mkdir()  # a folder the user made is left in place
    assert main(train_args(data, out)) == 2 and out.is_dir()
