"""Tests for mrcnn.visualize: fast overlays, colour splash, atomic saving, matplotlib displays."""

import os

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils, visualize

CLASS_NAMES = ["BG", "balloon", "kite"]


def _scene(h=60, w=90):
    image = np.full((h, w, 3), 100, np.uint8)
    image[:, :, 2] = 30
    masks = np.zeros((h, w, 2), bool)
    masks[10:30, 10:40, 0] = True
    masks[25:50, 35:80, 1] = True  # overlaps instance 0 at rows 25..29, cols 35..39
    return image, utils.extract_bboxes(masks), masks, np.array([1, 2]), np.array([0.9, 0.6])


def test_random_colors():
    colors = visualize.random_colors(7, seed=1)
    assert len(colors) == 7 and len(set(colors)) == 7
    assert all(len(c) == 3 and all(0 <= v <= 1 for v in c) for c in colors)
    assert colors == visualize.random_colors(7, seed=1)
    assert max(max(c) for c in visualize.random_colors(5, bright=False)) == pytest.approx(0.7)


def test_apply_mask():
    image = np.full((4, 4, 3), 100, np.uint8)
    mask = np.zeros((4, 4), bool)
    mask[1, 1] = True
    out = visualize.apply_mask(image, mask, (1.0, 0.0, 0.0), alpha=0.5)
    assert out is image
    np.testing.assert_array_equal(out[1, 1], [178, 50, 50])  # 100 * 0.5 + 255 * 0.5 = 177.5 -> 178
    np.testing.assert_array_equal(out[0, 0], [100, 100, 100])


def test_draw_instances_masks_only():
    image, boxes, masks, ids, scores = _scene()
    colors = [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    out = visualize.draw_instances(
        image, boxes, masks, ids, CLASS_NAMES, scores, colors=colors, show_boxes=False, show_labels=False, alpha=0.5
    )
    assert out.shape == image.shape and out.dtype == np.uint8
    union = masks.any(axis=2)
    np.testing.assert_array_equal(out[~union], image[~union])  # outside: untouched
    assert (out[union] != image[union]).any(axis=1).all()  # inside: every pixel changed
    np.testing.assert_array_equal(out[15, 15], [178, 50, 15])  # red over (100, 100, 30)
    np.testing.assert_array_equal(out[45, 70], [50, 50, 142])  # blue
    np.testing.assert_array_equal(out[27, 37], out[15, 15])  # overlap: first instance on top
    assert image[15, 15].tolist() == [100, 100, 30]  # input not modified


def test_draw_instances_boxes_and_labels():
    image, boxes, masks, ids, scores = _scene(120, 160)
    plain = visualize.draw_instances(image, boxes, masks, ids, CLASS_NAMES, scores, show_boxes=False, show_labels=False)
    full = visualize.draw_instances(image, boxes, masks, ids, CLASS_NAMES, scores)
    differs = (full != plain).any(axis=2)
    assert differs[boxes[1, 2] - 1, boxes[1, 1] : boxes[1, 3]].all()  # bottom edge of box 2 (exclusive y2)
    assert not differs[100:, :].any() and not differs[:, 130:].any()  # far from boxes: nothing drawn
    boxes_only = visualize.draw_instances(image, boxes, None, ids, CLASS_NAMES, show_labels=False)
    assert (boxes_only != image).any() and (boxes_only[70:, :] == image[70:, :]).all()


def test_draw_instances_zero_and_errors():
    image, boxes, masks, ids, scores = _scene()
    out = visualize.draw_instances(
        image, np.zeros((0, 4)), np.zeros(image.shape[:2] + (0,), bool), np.zeros(0, int), CLASS_NAMES
    )
    assert out is not image
    np.testing.assert_array_equal(out, image)
    with pytest.raises(ValueError, match="counts disagree"):
        visualize.draw_instances(image, boxes, masks, ids[:1], CLASS_NAMES)
    with pytest.raises(ValueError, match="class id 5"):
        visualize.draw_instances(image, boxes, masks, np.array([1, 5]), CLASS_NAMES)


def test_color_splash():
    image, _, masks, _, _ = _scene()
    image[:, :, 0] = 200
    splash = visualize.color_splash(image, masks)
    union = masks.any(axis=2)
    assert splash.dtype == np.uint8 and splash.shape == image.shape
    np.testing.assert_array_equal(splash[union], image[union])
    gray = splash[~union]
    assert (gray[:, 0] == gray[:, 1]).all() and (gray[:, 1] == gray[:, 2]).all()
    expected = round(0.2125 * 200 + 0.7154 * 100 + 0.0721 * 30)
    assert abs(int(gray[0, 0]) - expected) <= 1
    assert (visualize.color_splash(image, masks[:, :, :0])[union] == gray[0]).all()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".JPEG"])
def test_save_image_atomic(tmp_path, ext):
    image, _, _, _, _ = _scene()
    path = tmp_path / f"out{ext}"
    path.write_bytes(b"old")  # replaced, not appended to
    visualize.save_image(image, str(path))
    assert os.listdir(tmp_path) == [path.name]  # no temp file left behind
    with Image.open(path) as saved:
        assert saved.size == (90, 60)
        if ext == ".png":
            np.testing.assert_array_equal(np.asarray(saved), image)


def test_save_image_errors(tmp_path, monkeypatch):
    image = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown extension '.gif'"):
        visualize.save_image(image, str(tmp_path / "x.gif"))
    with pytest.raises(ValueError, match="uint8"):
        visualize.save_image(image.astype(np.float32), str(tmp_path / "x.png"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        visualize.save_image(image, str(tmp_path / "missing" / "x.png"))
    target = tmp_path / "keep.png"
    target.write_bytes(b"previous")

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        visualize.save_image(image, str(target))
    assert target.read_bytes() == b"previous"  # old file intact, no partial output
    assert os.listdir(tmp_path) == ["keep.png"]


def test_matplotlib_displays():
    plt = pytest.importorskip("matplotlib.pyplot")
    image, boxes, masks, ids, scores = _scene()
    try:
        ax = visualize.display_instances(image, boxes, masks, ids, CLASS_NAMES, scores, title="t", figsize=(3, 3))
        assert ax.get_title() == "t"
        assert len(ax.patches) == 4  # 2 dashed boxes + 2 mask outlines
        assert [t.get_text() for t in ax.texts] == ["balloon 0.900", "kite 0.600"]
        fig = visualize.display_top_masks(image, masks, ids, CLASS_NAMES, limit=2)
        assert len(fig.axes) == 3
        gt_match, pred_match, overlaps = utils.compute_matches(boxes, ids, masks, boxes, ids, scores, masks)
        ap, precisions, recalls, _ = utils.compute_ap(boxes, ids, masks, boxes, ids, scores, masks)
        assert visualize.plot_precision_recall(ap, precisions, recalls).get_title().endswith("1.000")
        ax = visualize.plot_overlaps(ids, ids, scores, overlaps, CLASS_NAMES)
        assert sum("match" in t.get_text() for t in ax.texts) == 2
    finally:
        plt.close("all")
