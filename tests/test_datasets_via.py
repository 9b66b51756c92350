"""ViaDataset: VIA 1.x/2.x region json → polygons → masks."""

import json

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils
from mrcnn.datasets import ViaDataset
from mrcnn.utils import DatasetError

H, W = 20, 30
SQUARE = {"name": "polygon", "all_points_x": [2, 12, 12, 2], "all_points_y": [3, 3, 9, 9]}  # 10 x 6 pixels


def region(shape, **attributes):
    return {"shape_attributes": shape, "region_attributes": attributes}


@pytest.fixture
def image_dir(tmp_path):
    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / name)
    return tmp_path


def load(image_dir, data, **kwargs):
    path = image_dir / "via_region_data.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    dataset = ViaDataset()
    dataset.load_via(path, image_dir, **kwargs)
    dataset.prepare()
    return dataset


def entry(filename, regions):
    return {f"{filename}123": {"filename": filename, "size": 123, "regions": regions, "file_attributes": {}}}


@pytest.mark.parametrize("as_dict", [True, False])
def test_polygon_masks_from_dict_and_list_regions(image_dir, as_dict):
    regions = [region(SQUARE), region({"name": "polygon", "all_points_x": [20, 25, 25], "all_points_y": [0, 0, 5]})]
    data = entry("a.png", {str(i): r for i, r in enumerate(regions)} if as_dict else regions)
    dataset = load(image_dir, data)
    assert dataset.class_names == ["BG", "object"]
    info = dataset.image_info[0]
    assert (info["height"], info["width"], info["id"]) == (H, W, "a.png")
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (H, W, 2) and masks.dtype == bool
    assert class_ids.dtype == np.int32 and class_ids.tolist() == [1, 1]
    assert masks[..., 0].sum() == 60
    assert utils.extract_bboxes(masks)[0].tolist() == [3, 2, 9, 12]


def test_classes_from_region_attribute_and_fixed_order(image_dir):
    data = {
        **entry("a.png", [region(SQUARE, kind="dog"), region(SQUARE, kind="cat")]),
        **entry("b.png", [region(SQUARE, kind={"cat": True, "dog": False})]),
    }
    dataset = load(image_dir, data, class_attribute="kind")
    assert dataset.class_names == ["BG", "cat", "dog"]
    assert dataset.load_mask(0)[1].tolist() == [2, 1]
    assert dataset.load_mask(1)[1].tolist() == [1]
    fixed = load(image_dir, data, class_attribute="kind", class_names=["dog", "cat", "bird"])
    assert fixed.class_names == ["BG", "dog", "cat", "bird"]
    assert fixed.load_mask(0)[1].tolist() == [1, 2]


def test_rect_circle_ellipse_and_clipping(image_dir):
    shapes = [
        {"name": "rect", "x": 1, "y": 2, "width": 5, "height": 4},
        {"name": "circle", "cx": 15, "cy": 10, "r": 4},
        {"name": "ellipse", "cx": 15, "cy": 10, "rx": 6, "ry": 3, "theta": 0},
        {"name": "polygon", "all_points_x": [25, 40, 40, 25], "all_points_y": [-5, -5, 4, 4]},
    ]
    masks, _ = load(image_dir, entry("a.png", [region(s) for s in shapes])).load_mask(0)
    areas = masks.sum(axis=(0, 1))
    assert areas[0] == 20
    assert abs(areas[1] - np.pi * 16) < 6
    assert abs(areas[2] - np.pi * 18) < 6
    assert areas[3] == 5 * 4  # clipped to cols 25..29, rows 0..3


def test_via2_project_file_and_skip_empty(image_dir):
    data = {"_via_settings": {}, "_via_img_metadata": {**entry("a.png", [region(SQUARE)]), **entry("b.png", [])}}
    assert load(image_dir, data).num_images == 1
    dataset = load(image_dir, data, skip_empty=False)
    assert dataset.num_images == 2
    masks, class_ids = dataset.load_mask(1)
    assert masks.shape == (H, W, 0) and class_ids.shape == (0,)


@pytest.mark.parametrize(
    "regions, message",
    [
        ([region({"name": "polygon", "all_points_x": [1, 2, 3]})], "polygon has no all_points_x / all_points_y"),
        (
            [region({"name": "polygon", "all_points_x": [1, 2, 3], "all_points_y": [1, 2]})],
            "polygon has 3 all_points_x but 2 all_points_y values",
        ),
        ([region({"name": "polygon", "all_points_x": [1, 2], "all_points_y": [1, 2]})], "at least 3 points"),
        ([region({"name": "polygon", "all_points_x": [1, "a", 3], "all_points_y": [1, 2, 3]})], "list of numbers"),
        ([region({"name": "point", "cx": 1, "cy": 2})], "unsupported shape 'point'"),
        ([region({"name": "rect", "x": 1, "y": 2, "width": 5})], "rect needs a number for 'height'"),
        ([region(SQUARE, other="x")], "region_attributes['kind'] must name one class"),
    ],
)
def test_malformed_region_names_file_image_and_region(image_dir, regions, message):
    data = entry("a.png", [region(SQUARE, kind="cat")] + regions)
    with pytest.raises(DatasetError) as err:
        load(image_dir, data, class_attribute="kind")
    text = str(err.value)
    assert message in text
    assert "via_region_data.json" in text and "image 'a.png123'" in text and "region 1" in text


@pytest.mark.parametrize(
    "data, message",
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "expected a JSON object"),
        ({"x": {"regions": []}}, "image 'x': entry needs a 'filename'"),
        (entry("a.png", "oops"), "'regions' must be a list or an object"),
        (entry("missing.png", [region(SQUARE)]), "image 'missing.png123': image file"),
    ],
)
def test_malformed_file_or_entry(image_dir, data, message):
    with pytest.raises(DatasetError, match="via_region_data.json") as err:
        load(image_dir, data)
    assert message in str(err.value)


def test_class_outside_class_names(image_dir):
    with pytest.raises(DatasetError, match="region 0: class 'dog' is not in class_names"):
        load(image_dir, entry("a.png", [region(SQUARE, kind="dog")]), class_attribute="kind", class_names=["cat"])


def test_real_balloon_train(shared_dir):
    split = shared_dir / "datasets" / "balloon" / "train"
    dataset = ViaDataset()
    dataset.load_via(split / "via_region_data.json", split, source="balloon", default_class="balloon")
    dataset.prepare()
    assert dataset.num_images == 61
    assert sum(len(info["polygons"]) for info in dataset.image_info) == 255
    assert dataset.class_names == ["BG", "balloon"]
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape[:2] == dataset.load_image(0).shape[:2]
    assert masks.shape[-1] == len(dataset.image_info[0]["polygons"]) and set(class_ids) == {1}
    assert masks.sum() > 1000
