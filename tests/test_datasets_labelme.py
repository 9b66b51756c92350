"""LabelMe loader: polygons, rectangles, circles, embedded imageData, negatives, malformed shapes."""

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.datasets import detect_format, load_dataset

W, H = 40, 30


def _png_bytes(mode="RGB"):
    buf = io.BytesIO()
    Image.new(mode, (W, H), 120).save(buf, format="PNG")
    return buf.getvalue()


def _write(folder, name, shapes, image="file", mode="RGB"):
    data = {"version": "5.0", "shapes": shapes, "imagePath": f"{name}.png", "imageData": None}
    if image == "file":
        (folder / f"{name}.png").write_bytes(_png_bytes(mode))
    elif image == "embedded":
        data["imageData"] = base64.b64encode(_png_bytes(mode)).decode()
    (folder / f"{name}.json").write_text(json.dumps(data))


def _shape(label, kind, points):
    return {"label": label, "shape_type": kind, "points": points, "group_id": None, "flags": {}}


def test_shapes_become_masks_and_classes_come_from_labels(tmp_path):
    _write(
        tmp_path,
        "a",
        [
            _shape("dog", "polygon", [[2, 2], [12, 2], [12, 12], [2, 12]]),
            _shape("cat", "rectangle", [[20, 5], [30, 15]]),
            _shape("dog", "circle", [[30, 22], [34, 22]]),
        ],
    )
    _write(tmp_path, "b", [])  # a negative
    assert detect_format(tmp_path) == "labelme"
    ds = load_dataset(tmp_path)
    assert ds.class_names == ["BG", "cat", "dog"] and ds.num_images == 2
    masks, class_ids = ds.load_mask(0)
    assert masks.shape == (H, W, 3) and class_ids.tolist() == [2, 1, 2]
    assert masks[7, 7, 0] and not masks[7, 7, 1] and masks[10, 25, 1]
    assert 40 < masks[..., 2].sum() < 60  # circle of radius 4: area about 50
    assert ds.load_mask(1)[0].shape == (H, W, 0)


def test_class_names_fix_the_order(tmp_path):
    _write(tmp_path, "a", [_shape("dog", "rectangle", [[1, 1], [9, 9]])])
    ds = load_dataset(tmp_path, class_names=["dog", "cat"])
    assert ds.class_names == ["BG", "dog", "cat"] and ds.load_mask(0)[1].tolist() == [1]


def test_embedded_image_data_used_when_the_file_is_absent(tmp_path):
    _write(tmp_path, "a", [_shape("x", "rectangle", [[1, 1], [9, 9]])], image="embedded", mode="L")
    ds = load_dataset(tmp_path)
    image = ds.load_image(0)
    assert image.shape == (H, W, 3) and image.dtype == np.uint8 and (image == 120).all()


@pytest.mark.parametrize(
    "shape, message",
    [
        (_shape("x", "polygon", [[1, 1], [5, 5]]), "at least 3 points"),
        (_shape("x", "polygon", [[1, 1], [50, 5], [5, 9]]), "outside"),
        (_shape("x", "line", [[1, 1], [5, 5]]), "unsupported shape_type"),
        (_shape("", "rectangle", [[1, 1], [5, 5]]), "label"),
    ],
)
def test_bad_shape_raises_with_file_and_index_or_is_skipped(tmp_path, shape, message):
    good = _shape("x", "rectangle", [[1, 1], [9, 9]])
    _write(tmp_path, "a", [good, shape])
    with pytest.raises(DatasetError, match=rf"a\.json: shape 1: .*{message}"):
        load_dataset(tmp_path)
    ds = load_dataset(tmp_path, skip_bad=True)
    assert len(ds.problems) == 1 and ds.problems[0][0].endswith("a.json") and ds.problems[0][1] == 1
    assert message in ds.problems[0][2]
    assert ds.load_mask(0)[0].shape[-1] == 1


def test_unknown_class_missing_image_and_not_an_image(tmp_path):
    _write(tmp_path, "a", [_shape("zebra", "rectangle", [[1, 1], [9, 9]])])
    with pytest.raises(DatasetError, match="shape 0: unknown class 'zebra'"):
        load_dataset(tmp_path, class_names=["dog"])
    _write(tmp_path, "b", [], image=None)
    with pytest.raises(DatasetError, match=r"b\.json: .*not found"):
        load_dataset(tmp_path)
    _write(tmp_path, "c", [])
    (tmp_path / "c.png").write_text("not an image")
    ds = load_dataset(tmp_path, skip_bad=True)
    assert [(p[0][-6:], p[1]) for p in ds.problems] == [("b.json", None), ("c.json", None)]
    assert ds.num_images == 1


def test_embedded_image_data_that_is_not_an_image(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps({"shapes": [], "imagePath": "a.png", "imageData": "bm90IGFuIGltYWdl"}))
    with pytest.raises(DatasetError, match=r"a\.json: imageData is not a base64 image"):
        load_dataset(tmp_path)
    (tmp_path / "a.json").write_text(json.dumps({"shapes": [], "imagePath": "a.png", "imageData": "%%%"}))
    problems = load_dataset(tmp_path, skip_bad=True).problems
    assert len(problems) == 1 and problems[0][1] is None and problems[0][2].startswith("imageData is not a base64")


def _turned_jpeg(path, width, height):
    """A JPEG stored width x height whose EXIF orientation (6) says: show it turned 90 degrees clockwise."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", (width, height), 90).save(path, exif=exif)


def test_bom_windows_paths_and_a_stray_json(tmp_path):
    """A BOM-prefixed file, an imagePath with backslashes up a folder and an absolute Windows path from another
    machine all load; a json that is not LabelMe (first in the folder) neither hides the format nor passes silently."""
    (tmp_path / "imgs").mkdir()
    (tmp_path / "ann").mkdir()
    (tmp_path / "imgs" / "a.png").write_bytes(_png_bytes())
    (tmp_path / "ann" / "b.png").write_bytes(_png_bytes())
    square = [_shape("cat", "rectangle", [[2, 2], [12, 12]])]
    for name, image_path in [("a", "..\\imgs\\a.png"), ("b", "C:\\Users\\me\\Pictures\\b.png")]:
        text = json.dumps({"version": "5.0", "shapes": square, "imagePath": image_path, "imageData": None})
        (tmp_path / "ann" / f"{name}.json").write_text("\ufeff" + text, encoding="utf-8")
    (tmp_path / "ann" / "_classes.json").write_text(json.dumps({"names": ["cat"]}))
    assert detect_format(tmp_path / "ann") == "labelme"
    with pytest.raises(DatasetError, match=r"_classes\.json: not a LabelMe file .*pass skip_bad"):
        load_dataset(tmp_path / "ann")
    ds = load_dataset(tmp_path / "ann", skip_bad=True)
    assert [p[0] for p in ds.problems] == [str(tmp_path / "ann" / "_classes.json")]
    assert [info["path"] for info in ds.image_info] == [
        str(tmp_path / "ann/../imgs/a.png"),
        str(tmp_path / "ann/b.png"),
    ]
    assert [ds.load_mask(i)[1].tolist() for i in ds.image_ids] == [[1], [1]]


def test_sideways_photo_is_read_upright_as_labelme_shows_it(tmp_path):
    """LabelMe applies the EXIF orientation: a photo stored 40x30 (orientation 6) is annotated as 30x40, so a shape
    below y = 30 is inside it, and the image and its masks come out 30 wide, 40 high."""
    _turned_jpeg(tmp_path / "a.jpg", W, H)
    shapes = [_shape("cat", "rectangle", [[2, 28], [12, 38]])]
    data = {"shapes": shapes, "imagePath": "a.jpg", "imageData": None, "imageHeight": W, "imageWidth": H}
    (tmp_path / "a.json").write_text(json.dumps(data))
    ds = load_dataset(tmp_path)
    masks, _ = ds.load_mask(0)
    assert ds.load_image(0).shape == (W, H, 3) and masks.shape == (W, H, 1) and masks[30, 5, 0]
    data["imageWidth"] = 99
    (tmp_path / "a.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"a\.json: image .*a\.jpg is 40x30 \(30x40 upright.*says 99x40"):
        load_dataset(tmp_path)


def test_a_json_that_does_not_parse_is_named_or_skipped(tmp_path):
    _write(tmp_path, "a", [_shape("cat", "polygon", [[1, 1], [8, 1], [8, 6]])])
    (tmp_path / "b.json").write_text('{"shapes": [], "imagePath": "b.png"} trailing')
    with pytest.raises(DatasetError, match=r"b\.json: not valid JSON .*pass skip_bad"):
        load_dataset(tmp_path, format="labelme")
    ds = load_dataset(tmp_path, format="labelme", skip_bad=True)
    assert [p[0] for p in ds.problems] == [str(tmp_path / "b.json")] and len(ds.image_ids) == 1
