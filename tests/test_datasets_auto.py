"""load_dataset / detect_format: format detection, class order, errors, and the shared balloon / frisbee data."""

import json
import os

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.datasets import FORMATS, detect_format, load_dataset

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


def _image(path, size=(40, 30)):
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path)


def _via(folder, regions_by_file):
    data = {
        f"{name}1": {"filename": name, "size": 1, "regions": regions, "file_attributes": {}}
        for name, regions in regions_by_file.items()
    }
    for name in regions_by_file:
        _image(folder / name)
    (folder / "via_region_data.json").write_text(json.dumps(data))


def _square(cls, x=5, y=5):
    return {
        "shape_attributes": {
            "name": "polygon",
            "all_points_x": [x, x + 10, x + 10, x],
            "all_points_y": [y, y, y + 8, y + 8],
        },
        "region_attributes": {"class": cls},
    }


def _coco(path, file_name, cats=((1, "cat"),)):
    data = {
        "images": [{"id": 1, "file_name": file_name, "width": 40, "height": 30}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": cats[0][0], "segmentation": [[5, 5, 20, 5, 20, 20]], "iscrowd": 0}
        ],
        "categories": [{"id": i, "name": n} for i, n in cats],
    }
    path.write_text(json.dumps(data))


def test_registry_has_the_first_formats():
    assert {"coco", "via"} <= set(FORMATS)
    assert all(callable(f) for f in FORMATS.values())


def test_via_folder_detected_and_loaded_with_negatives(tmp_path):
    _via(tmp_path, {"a.png": [_square("x")], "b.png": []})
    assert detect_format(tmp_path) == "via"
    assert detect_format(tmp_path / "via_region_data.json") == "via"
    ds = load_dataset(tmp_path)
    assert ds.format == "via" and ds.num_images == 2 and ds.problems == []
    masks = [ds.load_mask(i)[0].shape[-1] for i in ds.image_ids]
    assert sorted(masks) == [0, 1]


def test_coco_images_found_under_images_folder(tmp_path):
    (tmp_path / "images").mkdir()
    _image(tmp_path / "images" / "p.png")
    _coco(tmp_path / "instances.json", "p.png")
    assert detect_format(tmp_path / "instances.json") == "coco"
    ds = load_dataset(tmp_path / "instances.json")
    assert ds.class_names == ["BG", "cat"]
    masks, class_ids = ds.load_mask(0)
    assert masks.shape == (30, 40, 1) and class_ids.tolist() == [1]


def test_coco_missing_images_say_pass_images(tmp_path):
    _coco(tmp_path / "instances.json", "nowhere.png")
    with pytest.raises(DatasetError, match="pass images="):
        load_dataset(tmp_path / "instances.json")
    other = tmp_path / "elsewhere"
    other.mkdir()
    _image(other / "nowhere.png")
    assert load_dataset(tmp_path / "instances.json", images=other).num_images == 1


def test_unknown_input_names_what_was_looked_for(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(
        DatasetError,
        match="looked for a COCO instances json; .*images/ and masks/; pass format= one of coco, via, labelme",
    ):
        detect_format(tmp_path)
    for sub in ("images", "labels", "masks"):
        (tmp_path / sub).mkdir()
    with pytest.raises(DatasetError, match=r"several layouts \(yolo, masks\).*pass format="):
        detect_format(tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        detect_format(tmp_path / "missing")
    with pytest.raises(DatasetError, match="unknown format 'xml'"):
        load_dataset(tmp_path, format="xml")


def test_via_class_attribute_detected_and_class_names_fix_the_order(tmp_path):
    _via(tmp_path, {"a.png": [_square("b"), _square("a", 20)]})
    ds = load_dataset(tmp_path)
    assert ds.class_names == ["BG", "a", "b"] and ds.load_mask(0)[1].tolist() == [2, 1]
    ds = load_dataset(tmp_path, class_names=["b", "a"])
    assert ds.class_names == ["BG", "b", "a"] and ds.load_mask(0)[1].tolist() == [1, 2]
    with pytest.raises(DatasetError, match="region 1: image 'a.png\\d*': class 'a' is not in class_names"):
        load_dataset(tmp_path, class_names=["b", "c"])


def test_via_without_class_attribute_takes_the_one_class_name(tmp_path):
    _via(tmp_path, {"a.png": [{"shape_attributes": _square("x")["shape_attributes"], "region_attributes": {}}]})
    assert load_dataset(tmp_path, class_names=["balloon"]).class_names == ["BG", "balloon"]


def test_via_skip_bad_drops_bad_regions_and_missing_images(tmp_path):
    few = {
        "shape_attributes": {"name": "polygon", "all_points_x": [1, 5], "all_points_y": [1, 5]},
        "region_attributes": {},
    }
    _via(tmp_path, {"a.png": [_square("x"), few], "b.png": [_square("x")]})
    (tmp_path / "b.png").unlink()
    with pytest.raises(DatasetError, match="region 1: image 'a.png\\d*': polygon needs at least 3 points"):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, skip_bad=True)
    assert ds.num_images == 1 and ds.load_mask(0)[0].shape[-1] == 1
    assert [(p[1], p[2].split(":")[0]) for p in ds.problems][0] == (1, "image 'a.png1'")
    assert "b.png not found" in ds.problems[1][2] and len(ds.problems) == 2


def test_coco_skip_bad_drops_non_finite_polygons_and_missing_images(tmp_path):
    _image(tmp_path / "p.png")
    data = {
        "images": [
            {"id": 1, "file_name": "p.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "gone.png", "width": 40, "height": 30},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, 20, 5, 20, 20]], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[5, 5, float("nan"), 5, 20, 20]], "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="annotation 2: .*finite"):
        load_dataset(tmp_path / "instances.json")
    ds = load_dataset(tmp_path / "instances.json", skip_bad=True)
    assert ds.num_images == 1 and ds.load_mask(0)[1].tolist() == [1]
    assert [p[1] for p in ds.problems] == [2, 2] and "gone.png not found" in ds.problems[1][2]
    data["annotations"][1]["category_id"] = 7
    (tmp_path / "instances.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"instances\.json: annotation 2: unknown category_id 7"):
        load_dataset(tmp_path / "instances.json")


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "balloon", "train")), reason="shared balloon data absent")
def test_balloon_train_folder_is_via():
    ds = load_dataset(os.path.join(SHARED, "balloon", "train"))
    assert ds.format == "via" and ds.num_images == 61 and ds.num_classes == 2
    assert ds.load_mask(0)[0].shape[-1] >= 1


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "frisbee")), reason="shared frisbee data absent")
def test_frisbee_val_v2_is_coco_with_images_one_folder_up():
    ds = load_dataset(os.path.join(SHARED, "frisbee", "annotations", "instances_val_v2.json"))
    assert ds.format == "coco" and ds.num_images == 19 and ds.class_names == ["BG", "frisbee"]
    assert sum(ds.load_mask(i)[0].shape[-1] for i in ds.image_ids) == 26


def _coco_sized(folder, images, anns=None):
    """A COCO json over `images` {file_name: (width, height) stated}; one box-shaped polygon on image 1."""
    data = {
        "images": [
            {"id": k, "file_name": n, "width": w, "height": h} for k, (n, (w, h)) in enumerate(images.items(), 1)
        ],
        "annotations": anns
        or [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[2, 2, 12, 2, 12, 20, 2, 20]]}],
        "categories": [{"id": 1, "name": "cat"}],
    }
    (folder / "ann.json").write_text(json.dumps(data))
    return folder / "ann.json"


def _turned_jpeg(path, width, height, orientation=6):
    """A JPEG stored width x height whose EXIF says: show it turned (6: 90 degrees clockwise)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(path, exif=exif)


def test_json_with_trailing_garbage_or_a_folder_says_so(tmp_path):
    path = _coco_sized(tmp_path, {"a.png": (40, 30)})
    _image(tmp_path / "a.png")
    path.write_text(path.read_text() + "\n}garbage")
    with pytest.raises(DatasetError, match=r"ann\.json: not valid JSON \(Extra data"):
        load_dataset(path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: the folder is empty"):
        load_dataset(tmp_path / "empty")
    (tmp_path / "train.json").mkdir()
    with pytest.raises(DatasetError, match=r"train\.json: is a folder, not a json file"):
        load_dataset(tmp_path / "train.json")


def test_coco_images_are_checked_against_the_json(tmp_path):
    """An empty, a 1x1 or a wrongly sized image is rejected at load (naming the image), not at the first step."""
    _image(tmp_path / "a.png")
    (tmp_path / "empty.jpg").write_bytes(b"")
    _image(tmp_path / "dot.png", size=(1, 1))
    _image(tmp_path / "big.png", size=(80, 60))
    for name, message in [
        ("empty.jpg", "is empty"),
        ("dot.png", "is 1x1"),
        ("big.png", "is 80x60 but the annotation says 40x30"),
    ]:
        path = _coco_sized(tmp_path, {name: (40, 30) if name != "dot.png" else (1, 1), "a.png": (40, 30)})
        with pytest.raises(DatasetError, match=rf"ann\.json: image 1: image .*{name}.* {message}.*pass skip_bad"):
            load_dataset(path)
        dataset = load_dataset(path, skip_bad=True)
        assert [os.path.basename(info["path"]) for info in dataset.image_info] == ["a.png"]


def test_coco_on_a_sideways_photo_uses_the_grid_the_json_gives(tmp_path):
    """A phone photo stored 40x30 with EXIF orientation 6, annotated by a tool that showed it upright (30x40):
    the image is loaded upright, so it and its masks have the same shape. The json giving the raw size keeps it raw."""
    _turned_jpeg(tmp_path / "a.jpg", 40, 30)
    dataset = load_dataset(_coco_sized(tmp_path, {"a.jpg": (30, 40)}))
    masks, _ = dataset.load_mask(0)
    assert dataset.load_image(0).shape == (40, 30, 3) and masks.shape[:2] == (40, 30)
    raw = load_dataset(_coco_sized(tmp_path, {"a.jpg": (40, 30)}))
    assert raw.load_image(0).shape == (30, 40, 3) and raw.load_mask(0)[0].shape[:2] == (30, 40)


def test_coco_windows_paths_and_missing_images_hint(tmp_path):
    (tmp_path / "pics").mkdir()
    _image(tmp_path / "pics" / "a b é.png")
    dataset = load_dataset(_coco_sized(tmp_path, {"pics\\a b é.png": (40, 30)}))
    assert dataset.image_info[0]["path"] == str(tmp_path / "pics" / "a b é.png")
    with pytest.raises(DatasetError, match=r"pass images=<folder>"):
        load_dataset(_coco_sized(tmp_path, {"gone.png": (40, 30)}))


def test_via_class_attribute_checkbox_empty_value_and_preferred_key(tmp_path):
    """The class key: a VIA checkbox {option: true} counts; a well-known key (name) wins over another key every
    region fills (colour); an empty value for it is an error naming the region, not every region turned 'object'."""
    square = _square("x")["shape_attributes"]
    _via(tmp_path, {"a.png": [{"shape_attributes": square, "region_attributes": {"class": {"kite": True}}}]})
    assert load_dataset(tmp_path).class_names == ["BG", "kite"]
    regions = [
        {"shape_attributes": square, "region_attributes": {"colour": c, "name": n}} for c, n in [("red", "kite")]
    ]
    _via(
        tmp_path,
        {
            "a.png": regions,
            "b.png": [{"shape_attributes": square, "region_attributes": {"colour": "blue", "name": "balloon"}}],
        },
    )
    assert load_dataset(tmp_path).class_names == ["BG", "balloon", "kite"]
    _via(tmp_path, {"a.png": [_square("")], "b.png": [_square("kite")]})
    with pytest.raises(DatasetError, match=r"region 0: image 'a\.png1': region_attributes\['class'\] must name one"):
        load_dataset(tmp_path)
    _via(
        tmp_path,
        {"a.png": [{"shape_attributes": square, "region_attributes": {"note": "hidden"}}], "b.png": [_square("")]},
    )
    assert load_dataset(tmp_path).class_names == ["BG", "object"]  # a note some regions fill is not the class


def test_via_byte_order_mark_and_backslash_file_names(tmp_path):
    (tmp_path / "sub").mkdir()
    _image(tmp_path / "sub" / "a.png")
    data = {"a1": {"filename": "sub\\a.png", "size": 1, "regions": [_square("kite")]}}
    (tmp_path / "via_region_data.json").write_text("\ufeff" + json.dumps(data), encoding="utf-8")
    dataset = load_dataset(tmp_path)
    assert dataset.class_names == ["BG", "kite"] and dataset.image_info[0]["path"] == str(tmp_path / "sub/a.png")
