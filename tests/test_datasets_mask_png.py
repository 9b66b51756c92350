"""Mask PNG loader: id maps (8-bit, 16-bit, palette) with a class map, one PNG per instance, negatives, bad masks."""

import json

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.datasets import detect_format, load_dataset

W, H = 32, 24


def _image(path, mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (W, H), 90).save(path)


def _mask(path, values, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(values, mode=mode) if mode else Image.fromarray(values)
    im.save(path)


def _ids(*boxes):
    values = np.zeros((H, W), np.uint8)
    for k, (y0, y1, x0, x1) in enumerate(boxes, start=1):
        values[y0:y1, x0:x1] = k
    return values


def test_id_maps_with_class_map_and_negatives(tmp_path):
    _image(tmp_path / "images" / "a.jpg")
    _image(tmp_path / "images" / "b.png", mode="RGBA")
    _image(tmp_path / "images" / "c.png", mode="L")  # no mask file: a negative
    _mask(tmp_path / "masks" / "a.png", _ids((0, 5, 0, 5), (10, 20, 10, 20)))
    palette = Image.fromarray(_ids((2, 8, 2, 8)), mode="L").convert("P")
    palette.save(tmp_path / "masks" / "b.png")
    (tmp_path / "classes.json").write_text(json.dumps({"2": "dog", "default": "cat"}))
    assert detect_format(tmp_path) == "masks"
    ds = load_dataset(tmp_path)
    assert ds.class_names == ["BG", "cat", "dog"] and ds.num_images == 3
    masks, class_ids = ds.load_mask(0)
    assert masks.shape == (H, W, 2) and class_ids.tolist() == [1, 2]
    assert masks[..., 0].sum() == 25 and masks[..., 1].sum() == 100
    assert ds.load_mask(1)[0].sum() == 36 and ds.load_mask(2)[0].shape == (H, W, 0)
    assert ds.load_image(1).shape == (H, W, 3)


def test_sixteen_bit_id_map(tmp_path):
    _image(tmp_path / "images" / "a.png")
    values = np.zeros((H, W), np.uint16)
    values[:4, :4], values[10:, 10:] = 300, 1000
    _mask(tmp_path / "masks" / "a.png", values)
    ds = load_dataset(tmp_path)
    masks, class_ids = ds.load_mask(0)
    assert ds.class_names == ["BG", "object"] and masks.shape[-1] == 2 and masks[..., 0].sum() == 16


def test_one_png_per_instance_class_from_the_name(tmp_path):
    _image(tmp_path / "images" / "a.png")
    one = np.zeros((H, W), np.uint8)
    one[:3, :3] = 255
    _mask(tmp_path / "masks" / "a" / "0_zebra.png", one)
    _mask(tmp_path / "masks" / "a" / "1_ant.png", 255 - one)
    _mask(tmp_path / "masks" / "a" / "2_ant.png", np.zeros((H, W), np.uint8))  # empty: no instance
    ds = load_dataset(tmp_path, class_names=["zebra", "ant"])
    masks, class_ids = ds.load_mask(0)
    assert ds.class_names == ["BG", "zebra", "ant"] and class_ids.tolist() == [1, 2]
    assert masks[..., 0].sum() == 9 and masks[..., 1].sum() == H * W - 9


def test_bad_masks_raise_with_file_or_are_skipped(tmp_path):
    _image(tmp_path / "images" / "a.png")
    _image(tmp_path / "images" / "b.png")
    _image(tmp_path / "images" / "c.png")
    _mask(tmp_path / "masks" / "a.png", _ids((0, 5, 0, 5), (6, 9, 6, 9)))
    _mask(tmp_path / "masks" / "b.png", np.zeros((H + 1, W), np.uint8))
    (tmp_path / "masks" / "c.png").write_bytes(b"not a png")
    (tmp_path / "classes.json").write_text(json.dumps({"1": "cat"}))
    with pytest.raises(DatasetError, match=r"a\.png: instance 2: unknown class"):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, skip_bad=True)
    found = [(p[0].split("/")[-2:], p[1]) for p in ds.problems]
    assert found == [(["masks", "a.png"], 2), (["masks", "b.png"], None), (["masks", "c.png"], None)]
    assert "but its image is 32x24" in ds.problems[1][2] and "not a readable image" in ds.problems[2][2]
    assert ds.num_images == 1 and ds.load_mask(0)[1].tolist() == [1]


def test_colour_mask_is_rejected(tmp_path):
    _image(tmp_path / "images" / "a.png")
    colour = np.zeros((H, W, 3), np.uint8)
    colour[:2, :2] = (255, 0, 0)
    _mask(tmp_path / "masks" / "a.png", colour)
    with pytest.raises(DatasetError, match="single-channel"):
        load_dataset(tmp_path)


def test_upper_case_png_jpeg_masks_and_masks_matching_no_image(tmp_path):
    _image(tmp_path / "images" / "a.JPG")
    _mask(tmp_path / "masks" / "a.PNG", _ids((0, 5, 0, 5)))
    _image(tmp_path / "images" / "a.b.jpg")  # not a.png's image: its own stem is "a.b"
    ds = load_dataset(tmp_path)
    found = {info["path"].rsplit("/", 1)[1]: ds.load_mask(i)[1].tolist() for i, info in enumerate(ds.image_info)}
    assert found == {"a.JPG": [1], "a.b.jpg": []}
    Image.fromarray(_ids((0, 5, 0, 5))).save(tmp_path / "masks" / "a.b.jpg")
    with pytest.raises(DatasetError, match=r"masks/a\.b\.jpg: masks must be PNG"):
        load_dataset(tmp_path)
    (tmp_path / "masks" / "a.b.jpg").unlink()
    (tmp_path / "masks" / "a.PNG").rename(tmp_path / "masks" / "photo_a.png")
    with pytest.raises(
        DatasetError, match=r"no file under masks/ is the mask of an image; name them masks/<image stem>"
    ):
        load_dataset(tmp_path)


def test_masks_of_the_upright_photo(tmp_path):
    """A photo stored 32x24 with EXIF orientation 6 and masks 24x32 (made from the upright photo): read upright."""
    (tmp_path / "images").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (W, H), 90).save(tmp_path / "images" / "a.jpg", exif=exif)
    upright = np.zeros((W, H), np.uint8)
    upright[20:30, 2:8] = 1
    _mask(tmp_path / "masks" / "a.png", upright)
    ds = load_dataset(tmp_path)
    masks, _ = ds.load_mask(0)
    assert ds.load_image(0).shape == (W, H, 3) and masks.shape == (W, H, 1) and masks[25, 5, 0]
