"""CsvPolygonDataset: filename,class,points rows → polygons → masks."""

import numpy as np
import pytest
from PIL import Image

from mrcnn.datasets import CsvPolygonDataset
from mrcnn.utils import DatasetError

GOOD = """filename,class,points
a.png,dog,"2 3 12 3 12 9 2 9"
a.png,cat,0 0 4 0 4 4 0 4

b.png,dog,10.5 1 20 1 20 8
"""


@pytest.fixture
def image_dir(tmp_path):
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((10, 25), np.uint8)).save(tmp_path / "b.png")
    return tmp_path


def load(image_dir, text, **kwargs):
    path = image_dir / "polygons.csv"
    path.write_text(text)
    dataset = CsvPolygonDataset()
    dataset.load_csv(path, image_dir, **kwargs)
    dataset.prepare()
    return dataset


def test_good_rows(image_dir):
    dataset = load(image_dir, GOOD)
    assert dataset.class_names == ["BG", "cat", "dog"]
    assert [(i["id"], i["height"], i["width"]) for i in dataset.image_info] == [("a.png", 20, 30), ("b.png", 10, 25)]
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (20, 30, 2) and class_ids.tolist() == [2, 1]
    assert masks.sum(axis=(0, 1)).tolist() == [60, 16]
    masks, class_ids = dataset.load_mask(1)
    assert masks.shape == (10, 25, 1) and class_ids.tolist() == [2]


def test_fixed_class_order(image_dir):
    dataset = load(image_dir, GOOD, class_names=["dog", "cat"])
    assert dataset.class_names == ["BG", "dog", "cat"]
    assert dataset.load_mask(0)[1].tolist() == [1, 2]
    with pytest.raises(DatasetError, match=r"polygons.csv: line 3: class 'cat' is not in class_names"):
        load(image_dir, GOOD, class_names=["dog"])


@pytest.mark.parametrize(
    "row, message",
    [
        ("a.png,dog,1 2 3 4 5", "even count of at least 6"),
        ("a.png,dog,1 2 3 4", "even count of at least 6"),
        ("a.png,dog,1 2 x 4 5 6", "points must be numbers"),
        ("a.png,dog", "expected 3 fields"),
        ("a.png,,1 2 3 4 5 6", "filename and class must not be empty"),
        ("nope.png,dog,1 2 3 4 5 6", "image file"),
    ],
)
def test_bad_row_names_line(image_dir, row, message):
    with pytest.raises(DatasetError) as err:
        load(image_dir, GOOD + row + "\n")
    assert "polygons.csv: line 6" in str(err.value) and message in str(err.value)


def test_bad_header(image_dir):
    with pytest.raises(DatasetError, match="line 1: header must be filename,class,points"):
        load(image_dir, "file,label,xy\na.png,dog,1 2 3 4 5 6\n")
