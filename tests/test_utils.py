"""Tests for mrcnn.utils: Dataset, resizing, mini masks, boxes, evaluation."""

import numpy as np
import pytest
from PIL import Image

from mrcnn import utils
from mrcnn.data.dataset import image_label
from mrcnn.utils import DatasetError

# ------------------------------------------------------------------------------------------------
# Dataset
# ------------------------------------------------------------------------------------------------


def _dataset(paths):
    ds = utils.Dataset()
    ds.add_class("shapes", 1, "square")
    ds.add_class("shapes", 2, "circle")
    ds.add_class("coco", 7, "train,railway")
    for i, path in enumerate(paths):
        ds.add_image("shapes", f"img{i}", str(path), width=5, height=4)
    ds.prepare()
    return ds


def test_dataset_api(tmp_path):
    ds = _dataset([tmp_path / "a.png", tmp_path / "b.png"])
    assert ds.num_classes == 4
    assert ds.class_names == ["BG", "square", "circle", "train"]
    assert ds.num_images == 2
    np.testing.assert_array_equal(ds.image_ids, [0, 1])
    assert ds.map_source_class_id("shapes.2") == 2
    assert ds.map_source_class_id("coco.7") == 3
    assert ds.get_source_class_id(3, "coco") == 7
    assert ds.sources == ["", "coco", "shapes"]
    assert ds.source_class_ids["shapes"] == [0, 1, 2]
    assert ds.source_class_ids["coco"] == [0, 3]
    assert ds.image_from_source_map["shapes.img1"] == 1
    assert ds.image_reference(1) == ""  # matterport's default
    assert image_label(ds, 1) == str(tmp_path / "b.png")
    assert ds.source_image_link(0) == str(tmp_path / "a.png")
    assert ds.image_info[0]["width"] == 5 and ds.class_info[0]["name"] == "BG"


def test_dataset_errors(tmp_path):
    ds = utils.Dataset()
    ds.add_class("shapes", 1, "square")
    ds.add_class("shapes", 1, "square")  # duplicate is ignored
    assert len(ds.class_info) == 2
    with pytest.raises(DatasetError, match="prepare"):
        ds.image_ids
    with pytest.raises(AttributeError, match="prepare"):
        ds.class_names
    with pytest.raises(DatasetError, match="'.'"):
        ds.add_class("bad.source", 1, "x")
    with pytest.raises(DatasetError, match="already added"):
        ds.add_class("shapes", 1, "circle")
    ds.prepare()
    with pytest.raises(DatasetError, match="shapes.9"):
        ds.map_source_class_id("shapes.9")
    with pytest.raises(DatasetError, match="not 'coco'"):
        ds.get_source_class_id(1, "coco")
    with pytest.raises(DatasetError, match="out of range"):
        ds.load_image(0)


@pytest.mark.parametrize("mode", ["L", "RGBA", "I;16", "P", "RGB"])
def test_load_image_modes(tmp_path, mode):
    rgb = np.zeros((4, 5, 3), np.uint8)
    rgb[1, 2] = (200, 100, 50)
    path = tmp_path / f"img_{mode.replace(';', '')}.png"
    if mode == "L":
        Image.fromarray(rgb[:, :, 0]).save(path)
        expected = np.repeat(rgb[:, :, :1], 3, axis=2)
    elif mode == "RGBA":
        Image.fromarray(np.dstack([rgb, np.full((4, 5), 7, np.uint8)])).save(path)
        expected = np.round((rgb * 7.0 + 255 * 248) / 255).astype(np.uint8)  # composited on white
    elif mode == "I;16":
        wide = rgb[:, :, 0].astype(np.uint16) * 257  # 200 -> 51400 -> back to 200
        Image.fromarray(wide).save(path)
        expected = np.repeat(rgb[:, :, :1], 3, axis=2)
    elif mode == "P":
        Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(path)
        expected = rgb
    else:
        Image.fromarray(rgb).save(path)
        expected = rgb
    image = _dataset([path]).load_image(0)
    assert image.dtype == np.uint8 and image.shape == (4, 5, 3)
    np.testing.assert_array_equal(image, expected)


def test_load_image_ignores_exif_orientation(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW" tag
    Image.new("RGB", (6, 3), (90, 90, 90)).save(path, exif=exif)
    assert _dataset([path]).load_image(0).shape == (3, 6, 3)  # raw grid, not rotated


def test_load_image_missing_and_corrupt(tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    missing = tmp_path / "nope.png"
    ds = _dataset([corrupt, missing])
    with pytest.raises(DatasetError, match="broken.jpg"):
        ds.load_image(0)
    with pytest.raises(DatasetError, match="nope.png.*not found|not found.*nope.png"):
        ds.load_image(1)


def test_default_load_mask_warns(tmp_path):
    ds = _dataset([tmp_path / "a.png"])
    with pytest.warns(UserWarning, match="load_mask"):
        mask, class_ids = ds.load_mask(0)
    assert mask.shape == (4, 5, 0) and mask.dtype == bool
    assert class_ids.shape == (0,) and class_ids.dtype == np.int32


# ------------------------------------------------------------------------------------------------
# Resizing
# ------------------------------------------------------------------------------------------------


def _odd_image(h=201, w=333):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _odd_mask(h=201, w=333):
    mask = np.zeros((h, w, 2), bool)
    mask[20:90, 30:200, 0] = True
    mask[150:201, 300:333, 1] = True
    return mask


@pytest.mark.parametrize(
    "mode,min_dim,max_dim,min_scale",
    [
        ("none", None, None, None),
        ("square", 256, 512, None),
        ("square", 100, 256, None),
        ("square", None, 320, 2.0),
        ("pad64", 128, None, None),
        ("crop", 192, None, None),
    ],
)
def test_resize_image_modes(mode, min_dim, max_dim, min_scale):
    image, mask = _odd_image(), _odd_mask()
    out, window, scale, padding, crop = utils.resize_image(
        image, min_dim=min_dim, max_dim=max_dim, min_scale=min_scale, mode=mode, rng=np.random.default_rng(1)
    )
    assert out.dtype == np.uint8
    y1, x1, y2, x2 = window
    if mode == "crop":
        assert out.shape == (min_dim, min_dim, 3) and crop[2:] == (min_dim, min_dim)
        assert window == (0, 0, min_dim, min_dim)
    else:
        assert crop is None
        (top, bottom), (left, right), _ = padding
        assert (y1, x1) == (top, left)
        assert (out.shape[0] - y2, out.shape[1] - x2) == (bottom, right)
        assert (y2 - y1, x2 - x1) == (round(201 * scale), round(333 * scale))
        if mode == "square":
            assert out.shape[:2] == (max_dim, max_dim)
            assert abs(top - bottom) <= 1 and abs(left - right) <= 1
            assert max(y2 - y1, x2 - x1) <= max_dim
        if mode == "pad64":
            assert out.shape[0] % 64 == 0 and out.shape[1] % 64 == 0
        if mode == "none":
            assert out is image and scale == 1
        # padding is zero, the window holds the image
        assert not out[:y1].any() and not out[y2:].any() and not out[:, :x1].any() and not out[:, x2:].any()
    resized_mask = utils.resize_mask(mask, scale, padding, crop)
    assert resized_mask.shape == out.shape[:2] + (2,) and resized_mask.dtype == bool


def test_resize_image_scale_rules():
    image = _odd_image()
    assert utils.resize_image(image, 100, 1024, mode="square")[2] == 1.0  # min_dim never shrinks
    assert utils.resize_image(image, 402, 1024, mode="square")[2] == pytest.approx(2.0)
    assert utils.resize_image(image, 402, 500, mode="square")[2] == pytest.approx(500 / 333)  # max_dim wins
    with pytest.raises(ValueError, match="mode"):
        utils.resize_image(image, mode="stretch")
    with pytest.raises(ValueError, match="max_dim"):
        utils.resize_image(image, 100, None, mode="square")


def test_resize_mask_tracks_image_content():
    image = np.zeros((201, 333, 3), np.uint8)
    mask = _odd_mask()
    image[mask[:, :, 0]] = 255
    out, window, scale, padding, crop = utils.resize_image(image, 256, 512, mode="square")
    resized = utils.resize_mask(mask, scale, padding, crop)
    bright = out[:, :, 0] > 127
    agreement = (bright == resized[:, :, 0]).mean()
    assert agreement > 0.995
    box = utils.extract_bboxes(resized)[0]
    expected = np.array([20, 30, 90, 200]) * scale + [window[0], window[1], window[0], window[1]]
    np.testing.assert_allclose(box, expected, atol=1.5)


# ------------------------------------------------------------------------------------------------
# Masks and boxes
# ------------------------------------------------------------------------------------------------


def test_extract_bboxes_exclusive():
    mask = np.zeros((10, 12, 3), bool)
    mask[3:6, 4:9, 0] = True  # rows 3..5, cols 4..8
    mask[0, 11, 1] = True
    boxes = utils.extract_bboxes(mask)
    assert boxes.dtype == np.int32
    np.testing.assert_array_equal(boxes, [[3, 4, 6, 9], [0, 11, 1, 12], [0, 0, 0, 0]])


def test_minimize_expand_round_trip():
    mask = np.zeros((64, 80, 2), bool)
    mask[10:42, 8:40, 0] = True  # rectangle: exact round trip
    yy, xx = np.mgrid[:64, :80]
    mask[:, :, 1] = (yy - 40) ** 2 + (xx - 55) ** 2 < 15**2  # disk: approximate
    boxes = utils.extract_bboxes(mask)
    mini = utils.minimize_mask(boxes, mask, (28, 28))
    assert mini.shape == (28, 28, 2) and mini.dtype == bool
    assert mini[:, :, 0].all()
    back = utils.expand_mask(boxes, mini, mask.shape)
    assert back.shape == mask.shape
    np.testing.assert_array_equal(back[:, :, 0], mask[:, :, 0])
    iou = utils.compute_overlaps_masks(back[:, :, 1:], mask[:, :, 1:])[0, 0]
    assert iou > 0.95


def test_minimize_mask_empty_box():
    mini = utils.minimize_mask(np.zeros((1, 4), int), np.zeros((8, 8, 1), bool), (4, 4))
    assert mini.shape == (4, 4, 1) and not mini.any()


def test_unmold_mask():
    soft = np.zeros((4, 4), np.float32)
    soft[:, :2] = 0.9
    full = utils.unmold_mask(soft, (2, 3, 10, 11), (12, 14, 3))
    assert full.shape == (12, 14) and full.dtype == bool
    np.testing.assert_array_equal(np.argwhere(full).min(0), [2, 3])
    np.testing.assert_array_equal(np.argwhere(full).max(0), [9, 6])  # left half of the 8-wide box


def test_iou_hand_computed():
    box = np.array([0, 0, 10, 10])
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [0, 5, 10, 20], [20, 20, 30, 30], [0, 0, 0, 0]])
    expected = [1.0, 25 / 175, 50 / 200, 0.0, 0.0]
    np.testing.assert_allclose(utils.compute_iou(box, boxes), expected)
    overlaps = utils.compute_overlaps(boxes[:2], boxes)
    assert overlaps.shape == (2, 5)
    np.testing.assert_allclose(overlaps[0], expected)
    assert overlaps[1, 1] == 1.0


def test_mask_overlaps():
    a = np.zeros((6, 6, 2), bool)
    a[0:2, 0:2, 0] = True  # 4 px
    a[0:2, 0:4, 1] = True  # 8 px
    np.testing.assert_allclose(utils.compute_overlaps_masks(a, a[:, :, 1:]), [[0.5], [1.0]])
    assert utils.compute_overlaps_masks(a, np.zeros((6, 6, 0), bool)).shape == (2, 0)
    assert utils.compute_overlaps_masks(np.zeros((6, 6, 0), bool), a).shape == (0, 2)


def test_non_max_suppression():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9]])
    scores = np.array([0.8, 0.9, 0.5, 0.7])
    keep = utils.non_max_suppression(boxes, scores, 0.5)
    assert keep.dtype == np.int32
    np.testing.assert_array_equal(keep, [1, 2])  # 0 and 3 overlap 1 by IoU > 0.5
    np.testing.assert_array_equal(utils.non_max_suppression(boxes, scores, 0.99), [1, 0, 3, 2])
    assert utils.non_max_suppression(np.zeros((0, 4)), np.zeros(0), 0.5).size == 0


def test_box_refinement_round_trip():
    rng = np.random.default_rng(3)
    y1x1 = rng.uniform(0, 100, (20, 2))
    boxes = np.hstack([y1x1, y1x1 + rng.uniform(5, 50, (20, 2))])
    gt = boxes + rng.uniform(-4, 4, (20, 4))
    deltas = utils.box_refinement(boxes, gt)
    assert deltas.shape == (20, 4)
    np.testing.assert_allclose(utils.apply_box_deltas(boxes, deltas), gt, atol=1e-3)
    # hand-computed: centre shift of half a box height, doubled width
    np.testing.assert_allclose(
        utils.box_refinement([[0, 0, 10, 10]], [[5, -5, 15, 15]])[0], [0.5, 0.0, 0.0, np.log(2)], atol=1e-6
    )


def test_trim_and_norm_boxes():
    x = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [5, 6, 7, 8]])
    np.testing.assert_array_equal(utils.trim_zeros(x), x[[0, 2]])
    boxes = np.array([[0, 0, 100, 200], [10, 20, 30, 40]])
    # matterport's convention: (boxes - (0, 0, 1, 1)) / (H - 1, W - 1), by hand for H=100, W=200
    norm = utils.norm_boxes(boxes, (100, 200))
    np.testing.assert_allclose(norm, [[0, 0, 1, 1], [10 / 99, 20 / 199, 29 / 99, 39 / 199]], rtol=1e-6)
    np.testing.assert_array_equal(utils.denorm_boxes(norm, (100, 200)), boxes)
    # a model with the default BOX_NORMALIZATION gets its own exact frame by name
    norm = utils.norm_boxes(boxes, (100, 200), normalization="mrcnn")
    np.testing.assert_allclose(norm, [[0, 0, 1, 1], [0.1, 0.1, 0.3, 0.2]])
    np.testing.assert_array_equal(utils.denorm_boxes(norm, (100, 200), normalization="mrcnn"), boxes)


# ------------------------------------------------------------------------------------------------
# Evaluation
# ------------------------------------------------------------------------------------------------


def _gt():
    masks = np.zeros((40, 40, 2), bool)
    masks[2:12, 2:12, 0] = True
    masks[20:30, 20:30, 1] = True
    return utils.extract_bboxes(masks), np.array([1, 1]), masks


def _ap(pred_masks, scores, class_ids=None, **kwargs):
    gt_boxes, gt_ids, gt_masks = _gt()
    class_ids = np.ones(pred_masks.shape[-1], int) if class_ids is None else class_ids
    return utils.compute_ap(
        gt_boxes,
        gt_ids,
        gt_masks,
        utils.extract_bboxes(pred_masks),
        class_ids,
        np.asarray(scores, float),
        pred_masks,
        **kwargs,
    )


def test_compute_ap_perfect():
    _, _, gt_masks = _gt()
    ap, precisions, recalls, overlaps = _ap(gt_masks[:, :, ::-1], [0.6, 0.9])
    assert ap == pytest.approx(1.0)
    assert overlaps.shape == (2, 2)
    np.testing.assert_allclose(np.sort(overlaps.max(1)), [1, 1])


def test_compute_ap_shifted_and_missed():
    _, _, gt_masks = _gt()
    shifted = np.roll(gt_masks[:, :, 1], 6, axis=1)  # IoU 40/160 = 0.25 < 0.5
    preds = np.dstack([gt_masks[:, :, 0], shifted])
    # TP first, then FP: P = [1, 1/2], R = [1/2, 1/2] -> AP = 0.5
    assert _ap(preds, [0.9, 0.8])[0] == pytest.approx(0.5)
    # FP first, then TP: P = [0, 1/2], R = [0, 1/2] -> AP = 0.5 * 0.5 = 0.25
    assert _ap(preds, [0.8, 0.9])[0] == pytest.approx(0.25)
    # one GT missed entirely: AP = 0.5
    assert _ap(gt_masks[:, :, :1], [0.9])[0] == pytest.approx(0.5)
    # wrong class never matches
    assert _ap(gt_masks, [0.9, 0.8], class_ids=np.array([2, 2]))[0] == 0.0
    # shifted mask counts at a low threshold
    assert _ap(preds, [0.8, 0.9], iou_threshold=0.2)[0] == pytest.approx(1.0)


def test_compute_ap_empty_cases():
    no_pred = np.zeros((40, 40, 0), bool)
    assert _ap(no_pred, [])[0] == 0.0
    empty_gt = (np.zeros((0, 4)), np.zeros(0, int), np.zeros((40, 40, 0), bool))
    _, _, gt_masks = _gt()
    args = (np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), no_pred)
    assert utils.compute_ap(*empty_gt, *args)[0] == 0.0  # matterport's values
    predictions = (utils.extract_bboxes(gt_masks), np.ones(2, int), np.ones(2), gt_masks)
    assert np.isnan(utils.compute_ap(*empty_gt, *predictions)[0])


def test_compute_matches_padding_and_threshold():
    gt_boxes, gt_ids, gt_masks = _gt()
    pad_masks = np.dstack([gt_masks, np.zeros((40, 40, 1), bool)])
    pad_boxes = np.vstack([gt_boxes, np.zeros((1, 4), np.int32)])
    gt_match, pred_match, overlaps = utils.compute_matches(
        pad_boxes,
        np.array([1, 1, 0]),
        pad_masks,
        gt_boxes,
        np.array([1, 1]),
        np.array([0.3, 0.9]),
        gt_masks,
        score_threshold=0.5,
    )
    assert overlaps.shape == (1, 2)  # padded GT row dropped, low-score prediction ignored
    np.testing.assert_array_equal(pred_match, [1])
    np.testing.assert_array_equal(gt_match, [-1, 0])
    with pytest.raises(ValueError, match="counts disagree"):
        utils.compute_matches(gt_boxes, gt_ids, gt_masks, gt_boxes, gt_ids, np.ones(3), gt_masks)


def test_compute_ap_range_and_recall():
    _, _, gt_masks = _gt()
    gt_boxes, gt_ids, _ = _gt()
    shifted = np.roll(gt_masks, 1, axis=1)  # IoU 90/110 = 0.818
    ap = utils.compute_ap_range(
        gt_boxes, gt_ids, gt_masks, utils.extract_bboxes(shifted), gt_ids, np.ones(2), shifted, verbose=0
    )
    assert ap == pytest.approx(7 / 10)  # thresholds 0.50 .. 0.80 pass, 0.85 .. 0.95 fail
    recall, positive = utils.compute_recall(np.array([[2, 2, 12, 12], [0, 30, 5, 35]]), gt_boxes, 0.5)
    assert recall == 0.5
    np.testing.assert_array_equal(positive, [0])
    assert utils.compute_recall(np.zeros((0, 4)), gt_boxes, 0.5)[0] == 0.0
