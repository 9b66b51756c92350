"""Annotations met in the wild: NaN/Infinity/huge coordinates and regions outside the image (VIA and COCO)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.datasets import CocoDataset, ViaDataset

H, W = 20, 30


@pytest.fixture
def folder(tmp_path):
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "a.png")
    return tmp_path


def via(folder, xs, ys):
    regions = [{"shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys}}]
    path = folder / "via.json"
    path.write_text(json.dumps({"a.png1": {"filename": "a.png", "regions": regions}}))  # NaN/Infinity as JSON allows
    dataset = ViaDataset()
    dataset.load_via(path, folder)
    dataset.prepare()
    return dataset


def coco(folder, segmentation):
    data = {
        "images": [{"id": 1, "file_name": "a.png", "height": H, "width": W}],
        "annotations": [{"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "segmentation": segmentation}],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = folder / "coco.json"
    path.write_text(json.dumps(data))
    dataset = CocoDataset()
    dataset.load_coco(path, folder)
    dataset.prepare()
    return dataset


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_via_non_finite_coordinates_name_file_and_region(folder, bad):
    with pytest.raises(DatasetError, match=r"via\.json: image 'a\.png1', region 0: coordinates must be finite"):
        via(folder, [1, 5, bad], [1, 1, 5])


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_coco_non_finite_coordinates_name_file_and_annotation(folder, bad):
    dataset = coco(folder, [[1, 1, 5, 1, bad, 5]])
    with pytest.raises(DatasetError, match=r"coco\.json: image 1, annotation 7: polygon 0: coordinates must be finite"):
        dataset.load_mask(0)


def test_huge_coordinates_are_clipped_to_the_image(folder):
    masks, _ = via(folder, [0, 1e12, 1e12, 0], [0, 0, 1e12, 1e12]).load_mask(0)
    assert masks.shape == (H, W, 1) and masks.all()
    masks, _ = coco(folder, [[0, 0, 1e12, 0, 1e12, 1e12, 0, 1e12]]).load_mask(0)
    assert masks.all()


def test_region_outside_the_image_is_dropped_with_a_warning(folder):
    dataset = via(folder, [100, 110, 110], [100, 100, 110])
    with pytest.warns(UserWarning, match=r"a\.png: region 0: the annotation covers no pixel"):
        masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (H, W, 0) and class_ids.shape == (0,)
    dataset = coco(folder, [[100, 100, 110, 100, 110, 110]])
    with pytest.warns(UserWarning, match=r"annotation 7: the annotation covers no pixel"):
        assert dataset.load_mask(0)[0].shape == (H, W, 0)


def test_nan_polygon_does_not_kill_the_process(folder):
    """pycocotools crashed with SIGSEGV on such input; the loader must refuse it first (in a child process)."""
    code = (
        "import sys; sys.path.insert(0, %r)\n"
        "from test_datasets_hostile import coco\n"
        "from pathlib import Path\n"
        "try:\n"
        "    coco(Path(%r), [[1, 1, 1e308 * 10, 1, 5, float('nan')]]).load_mask(0)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
    ) % (str(__import__("pathlib").Path(__file__).parent), str(folder))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "DatasetError", result.stderr[-500:]
