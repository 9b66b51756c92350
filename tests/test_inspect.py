"""inspect_dataset: class counts, COCO size buckets at the input size, anchors, negatives, problems; table and PNG."""

import json

import numpy as np
from PIL import Image

from mrcnn.datasets import load_dataset
from mrcnn.datasets.report import format_report, inspect_dataset, save_report_png


def _labelme(folder, name, shapes, size=(200, 100)):
    Image.new("RGB", size, 0).save(folder / f"{name}.png")
    data = {"shapes": shapes, "imagePath": f"{name}.png", "imageData": None}
    (folder / f"{name}.json").write_text(json.dumps(data))


def _box(label, x0, y0, x1, y1):
    return {"label": label, "shape_type": "rectangle", "points": [[x0, y0], [x1, y1]]}


def _dataset(tmp_path):
    # 200x100 image at input 400: scale 2. A 10x10 box -> 20x20 (small), 40x40 -> 80x80 (medium), 60x60 -> 120 (large)
    _labelme(tmp_path, "a", [_box("cat", 0, 0, 10, 10), _box("dog", 50, 0, 90, 40), _box("dog", 100, 0, 160, 60)])
    _labelme(tmp_path, "b", [])
    _labelme(tmp_path, "c", [_box("cat", 0, 0, 10, 10), {"label": "cat", "shape_type": "polygon", "points": [[1, 1]]}])
    return load_dataset(tmp_path, skip_bad=True)


def test_counts_buckets_anchors_negatives_and_problems(tmp_path):
    report = inspect_dataset(_dataset(tmp_path), image_size=400, anchor_scales=(16, 64, 256))
    assert report["num_images"] == 3 and report["num_instances"] == 4
    assert report["classes"] == {"cat": 2, "dog": 2}
    assert report["image_sizes"] == [(100, 200)] * 3
    assert report["object_buckets"] == {"small": 2, "medium": 1, "large": 1}
    assert np.allclose(sorted(report["object_sides"]), [20, 20, 80, 120])
    assert report["per_anchor"] == {16: 2, 64: 2, 256: 0}  # 120 is nearer 64 than 256 on a log scale
    assert report["negatives"] == [str(tmp_path / "b.png")]
    assert [(p[0][-6:], p[1]) for p in report["problems"]] == [("c.json", 1)]


def test_table_and_png(tmp_path):
    report = inspect_dataset(_dataset(tmp_path), image_size=400)
    table = format_report(report)
    assert "cat" in table and "small 2, medium 1, large 1" in table
    assert "images without instances: 1" in table and "rejected annotations: 1" in table
    assert "c.json [1]: polygon needs at least 3 points" in table
    out = tmp_path / "out" / "report.png"
    save_report_png(report, out)
    assert Image.open(out).format == "PNG"
    assert [p.name for p in out.parent.iterdir()] == ["report.png"]  # no temp file left


def test_mask_load_errors_and_dropped_annotations_are_reported(tmp_path):
    # a VIA region wholly outside its image is dropped by load_mask with a warning: the report lists it
    Image.new("RGB", (20, 20)).save(tmp_path / "a.png")
    region = {"shape_attributes": {"name": "rect", "x": 50, "y": 50, "width": 5, "height": 5}}
    (tmp_path / "via_region_data.json").write_text(json.dumps({"a": {"filename": "a.png", "regions": [region]}}))
    report = inspect_dataset(load_dataset(tmp_path))
    assert report["num_instances"] == 0 and len(report["problems"]) == 1
    assert "covers no pixel" in report["problems"][0][2]


def test_inspect_command(tmp_path, capsys):
    from mrcnn.cli.commands import main

    data = tmp_path / "data"
    data.mkdir()
    _dataset(data)
    png = tmp_path / "report.png"
    assert main(["inspect", str(data), "--image-size", "400", "--skip-bad", "--png", str(png)]) == 0
    assert "small 2, medium 1, large 1" in capsys.readouterr().out and png.is_file()
    assert main(["inspect", str(data), "--png", str(png)]) == 2  # the bad polygon stops it without --skip-bad
    assert "c.json: shape 1: polygon needs at least 3 points" in capsys.readouterr().err
