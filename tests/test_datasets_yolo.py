"""YOLO-seg loader: data yaml and images/ + labels/ folders, normalised polygons, boxes, negatives, bad lines."""

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.datasets import detect_format, load_dataset

W, H = 40, 20


def _image(path, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (W, H), 50).save(path)


def _label(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _split(root, split, labels):
    """labels: {stem: text or None (no label file)}."""
    for stem, text in labels.items():
        _image(root / "images" / split / f"{stem}.png")
        if text is not None:
            _label(root / "labels" / split / f"{stem}.txt", text)


SQUARE = "0.1 0.1 0.5 0.1 0.5 0.9 0.1 0.9"


def test_data_yaml_splits_names_and_negatives(tmp_path):
    _split(tmp_path / "data", "train", {"a": f"1 {SQUARE}\n0 0.75 0.5 0.2 0.4\n", "b": None})
    _split(tmp_path / "data", "val", {"c": f"0 {SQUARE}\n"})
    (tmp_path / "data.yaml").write_text(
        "path: data\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n"
    )
    assert detect_format(tmp_path / "data.yaml") == "yolo"
    ds = load_dataset(tmp_path / "data.yaml")
    assert ds.class_names == ["BG", "cat", "dog"] and ds.num_images == 2
    masks, class_ids = ds.load_mask(0)
    assert class_ids.tolist() == [2, 1] and masks.shape == (H, W, 2)
    assert masks[10, 10, 0] and not masks[10, 30, 0] and masks[10, 30, 1]  # polygon x 4..20, box x 26..34
    assert abs(masks[..., 0].sum() - 16 * 16) <= 20
    assert ds.load_mask(1)[0].shape == (H, W, 0)  # no label file: a negative
    val = load_dataset(tmp_path / "data.yaml", images="val")
    assert val.num_images == 1 and val.class_names == ds.class_names


def test_folder_with_classes_txt_and_16_bit_image(tmp_path):
    _image(tmp_path / "images" / "a.png", mode="I;16")
    _label(tmp_path / "labels" / "a.txt", f"1 {SQUARE}\n")
    (tmp_path / "classes.txt").write_text("cat\ndog\n")
    assert detect_format(tmp_path) == "yolo"
    ds = load_dataset(tmp_path)
    assert ds.class_names == ["BG", "cat", "dog"] and ds.load_mask(0)[1].tolist() == [2]
    assert ds.load_image(0).shape == (H, W, 3)


def test_folder_without_names_numbers_the_classes(tmp_path):
    _split(tmp_path, "", {"a": f"2 {SQUARE}\n"})
    assert load_dataset(tmp_path).class_names == ["BG", "class0", "class1", "class2"]


@pytest.mark.parametrize(
    "line, message",
    [
        ("0 0.1 0.1", "at least 3"),
        ("0 0.1 0.1 1.5 0.1 0.5 0.9", r"\[0, 1\]"),
        ("5 " + SQUARE, "unknown class id 5"),
        ("nan " + SQUARE, "unknown class id nan"),
        ("0 0.1 nan 0.5 0.1 0.5 0.9", r"\[0, 1\]"),
        ("x " + SQUARE, "numbers"),
    ],
)
def test_bad_line_raises_with_file_and_line_or_is_skipped(tmp_path, line, message):
    _split(tmp_path, "", {"a": f"0 {SQUARE}\n{line}\n"})
    (tmp_path / "classes.txt").write_text("cat\n")
    with pytest.raises(DatasetError, match=rf"a\.txt: line 2: .*{message}"):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, skip_bad=True)
    assert [(p[0][-5:], p[1]) for p in ds.problems] == [("a.txt", 2)]
    assert ds.load_mask(0)[0].shape[-1] == 1


def test_not_an_image_and_bad_yaml(tmp_path):
    _split(tmp_path, "", {"a": f"0 {SQUARE}\n"})
    (tmp_path / "images" / "b.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"b\.png"):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, skip_bad=True)
    assert ds.num_images == 1 and ds.problems[0][0].endswith("b.png")
    (tmp_path / "bad.yaml").write_text("train: [unclosed\n")
    with pytest.raises(DatasetError, match=r"bad\.yaml: not valid YAML"):
        load_dataset(tmp_path / "bad.yaml")
    (tmp_path / "split.yaml").write_text("train: images\nnames: [cat]\n")
    with pytest.raises(DatasetError, match="no 'val' entry"):
        load_dataset(tmp_path / "split.yaml", images="val")
    assert np.array_equal(load_dataset(tmp_path / "split.yaml", skip_bad=True).class_ids, [0, 1])


def test_bom_rounding_past_1_and_odd_coordinates(tmp_path):
    """A BOM (Windows Notepad) and 1.0000001 (an exporter's rounding) are read; an odd number of coordinates and a
    value a pixel past the image are errors that say which."""
    _split(tmp_path, "train", {"a": f"\ufeff0 {SQUARE}\r\n", "b": "0 0.1 0.1 1.0000001 0.1 0.5 0.5\n"})
    ds = load_dataset(tmp_path)
    assert [ds.load_mask(i)[1].tolist() for i in ds.image_ids] == [[1], [1]]
    assert max(ds.image_info[1]["polygons"][0]["all_points_x"]) == W
    _label(tmp_path / "labels" / "train" / "b.txt", "0 0.1 0.1 0.5 0.1 0.5 0.5 0.3\n")
    with pytest.raises(DatasetError, match=r"b\.txt: line 1: odd number of coordinates \(7\)"):
        load_dataset(tmp_path)
    _label(tmp_path / "labels" / "train" / "b.txt", "0 0.1 0.1 1.03 0.1 0.5 0.5\n")
    with pytest.raises(DatasetError, match=r"b\.txt: line 1: coordinates must be normalised to \[0, 1\]"):
        load_dataset(tmp_path)


def test_a_folder_link_that_loops_lists_each_image_once(tmp_path):
    _split(tmp_path, "train", {"a": f"0 {SQUARE}\n", "b": None})
    (tmp_path / "images" / "train" / "loop").symlink_to(tmp_path)
    (tmp_path / "images" / "train" / "C.PNG").write_bytes((tmp_path / "images" / "train" / "a.png").read_bytes())
    ds = load_dataset(tmp_path)
    assert sorted(info["path"].rsplit("/", 1)[1] for info in ds.image_info) == ["C.PNG", "a.png", "b.png"]


def test_sideways_photo_labels_are_in_the_upright_grid(tmp_path):
    """Ultralytics reads images upright (EXIF applied), so its normalised labels are in that grid."""
    (tmp_path / "images").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (W, H), 50).save(tmp_path / "images" / "a.jpg", exif=exif)
    _label(tmp_path / "labels" / "a.txt", "0 0.0 0.5 1.0 0.5 1.0 1.0 0.0 1.0\n")  # the lower half, upright
    ds = load_dataset(tmp_path)
    masks, _ = ds.load_mask(0)
    assert ds.load_image(0).shape == (W, H, 3) and masks.shape == (W, H, 1)
    assert masks[W - 2, 1, 0] and not masks[1, 1, 0]


def test_roboflow_yaml_and_a_path_that_is_not_here(tmp_path):
    """Roboflow's data.yaml says train: ../train/images beside the yaml (Ultralytics reads it as train/images)."""
    _split(tmp_path, "x", {"a": f"0 {SQUARE}\n"})
    (tmp_path / "train").mkdir()
    (tmp_path / "images" / "x").rename(tmp_path / "train" / "images")
    (tmp_path / "labels" / "x").rename(tmp_path / "train" / "labels")
    (tmp_path / "data.yaml").write_text("train: ../train/images\nnc: 1\nnames: ['cat']\n")
    ds = load_dataset(tmp_path / "data.yaml")
    assert ds.num_images == 1 and ds.load_mask(0)[1].tolist() == [1]
    (tmp_path / "data.yaml").write_text("path: /nowhere/mine\ntrain: images/train\nnames: ['cat']\n")
    with pytest.raises(DatasetError, match=r"data\.yaml: 'path: /nowhere/mine' is not a folder here"):
        load_dataset(tmp_path / "data.yaml")
