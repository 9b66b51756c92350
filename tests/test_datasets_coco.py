"""CocoDataset: COCO instances json (polygons, uncompressed and compressed RLE, crowd) → masks."""

import contextlib
import io
import json

import numpy as np
import pycocotools.mask as mask_util
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from mrcnn import utils
from mrcnn.datasets import CocoDataset
from mrcnn.evaluate import detections_to_coco
from mrcnn.utils import DatasetError

H, W = 12, 16
CATEGORIES = [{"id": 3, "name": "cat"}, {"id": 7, "name": "dog"}, {"id": 9, "name": "bird"}]


def compressed_rle(mask):
    rle = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def uncompressed_rle(mask):
    """Column-major run lengths starting with a background run, as COCO writes crowd masks."""
    flat = mask.T.ravel().astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": list(mask.shape), "counts": np.diff(np.concatenate([[0], edges])).tolist()}


def box_mask(y1, x1, y2, x2):
    mask = np.zeros((H, W), bool)
    mask[y1:y2, x1:x2] = True
    return mask


@pytest.fixture
def coco_files(tmp_path):
    for name in ("1.png", "2.png", "3.png"):
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / name)
    images = [{"id": i, "file_name": f"{i}.png", "height": H, "width": W} for i in (1, 2, 3)]
    anns = [
        {"id": 10, "image_id": 1, "category_id": 3, "iscrowd": 0, "segmentation": [[1, 1, 5, 1, 5, 4, 1, 4]]},
        {
            "id": 11,
            "image_id": 1,
            "category_id": 7,
            "iscrowd": 0,
            "segmentation": compressed_rle(box_mask(6, 6, 9, 12)),
        },
        {
            "id": 12,
            "image_id": 1,
            "category_id": 7,
            "iscrowd": 1,
            "segmentation": uncompressed_rle(box_mask(0, 10, 4, 16)),
        },
        {"id": 13, "image_id": 2, "category_id": 9, "iscrowd": 0, "segmentation": [[0, 0, 3, 0, 3, 3]]},
    ]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": CATEGORIES}))
    return path, tmp_path


def load(path, image_dir, **kwargs):
    dataset = CocoDataset()
    dataset.load_coco(path, image_dir, **kwargs)
    dataset.prepare()
    return dataset


def test_polygon_compressed_rle_and_crowd(coco_files):
    dataset = load(*coco_files)
    assert dataset.class_names == ["BG", "cat", "dog", "bird"]
    assert [c["id"] for c in dataset.class_info] == [0, 3, 7, 9]
    assert [info["id"] for info in dataset.image_info] == [1, 2]  # image 3 has no annotation
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (H, W, 3) and masks.dtype == bool
    assert class_ids.dtype == np.int32 and class_ids.tolist() == [1, 2, -2]  # crowd dog is negative
    assert masks[..., 0].sum() == 12  # polygon x 1..5, y 1..4 in pixel-corner coordinates
    assert np.array_equal(masks[..., 1], box_mask(6, 6, 9, 12))
    assert np.array_equal(masks[..., 2], box_mask(0, 10, 4, 16))


def test_category_filter_by_name_and_id(coco_files):
    dataset = load(*coco_files, categories=["dog", 9])
    assert dataset.class_names == ["BG", "dog", "bird"]
    assert dataset.map_source_class_id("coco.7") == 1
    assert dataset.load_mask(0)[1].tolist() == [1, -1]
    keep_empty = load(*coco_files, categories=["bird"], skip_empty=False, source="mine")
    assert keep_empty.num_images == 3 and keep_empty.image_info[0]["source"] == "mine"
    masks, class_ids = keep_empty.load_mask(0)
    assert masks.shape == (H, W, 0) and class_ids.shape == (0,)


def test_unknown_category_lists_names(coco_files):
    with pytest.raises(DatasetError, match=r"unknown category name 'horse'; the file has: bird, cat, dog"):
        load(*coco_files, categories=["horse"])
    with pytest.raises(DatasetError, match=r"unknown category 42"):
        load(*coco_files, categories=[42])


def test_two_categories_of_one_name_are_refused(coco_files):
    path, image_dir = coco_files
    data = json.loads(path.read_text())
    data["categories"][1]["name"] = "cat"  # ids 3 and 7 are both "cat"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"categories \[3, 7\] share the name 'cat'"):
        load(path, image_dir)
    with pytest.raises(DatasetError, match=r"categories \[3, 7\] share the name 'cat'"):
        load(path, image_dir, categories=["cat"])
    assert load(path, image_dir, categories=[3, 9]).class_names == ["BG", "cat", "bird"]  # one of them is fine


def test_missing_image_and_bad_files(coco_files, tmp_path):
    path, image_dir = coco_files
    (image_dir / "2.png").unlink()
    with pytest.raises(DatasetError, match=r"instances.json: image 2 \(2.png\): image file .* not found"):
        load(path, image_dir)
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(DatasetError, match="bad.json: not valid JSON"):
        load(bad, image_dir)
    bad.write_text(json.dumps({"images": []}))
    with pytest.raises(DatasetError, match="missing annotations, categories"):
        load(bad, image_dir)


def test_rle_size_mismatch_names_annotation(coco_files):
    path, image_dir = coco_files
    data = json.loads(path.read_text())
    data["annotations"][1]["segmentation"]["size"] = [H + 1, W]
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"image 1, annotation 11: RLE size \[13, 16\] differs"):
        load(path, image_dir).load_mask(0)


def frisbee(shared_dir, split):
    root = shared_dir / "datasets" / "frisbee"
    return root / "annotations" / f"instances_{split}.json", root / split


@pytest.mark.parametrize("split, images, instances", [("train", 10, 11), ("val", 4, 5)])
def test_real_frisbee(shared_dir, split, images, instances):
    dataset = load(*frisbee(shared_dir, split))
    assert dataset.num_images == images and dataset.class_names == ["BG", "frisbee"]
    kinds = {type(a["segmentation"]).__name__ for info in dataset.image_info for a in info["annotations"]}
    assert kinds == {"list", "dict"}  # polygons and uncompressed RLE both occur
    count = 0
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        info = dataset.image_info[image_id]
        assert masks.shape[:2] == (info["height"], info["width"]) and set(class_ids) == {1}
        for mask, ann in zip(np.moveaxis(masks, -1, 0), info["annotations"]):
            assert abs(mask.sum() - ann["area"]) <= max(0.1 * ann["area"], 10)
        count += masks.shape[-1]
    assert count == instances


def test_round_trip_masks_give_ap_1(shared_dir):
    """COCO json → Dataset masks → RLE detections → pycocotools against the original json: AP 1.0."""
    path, image_dir = frisbee(shared_dir, "train")
    dataset = load(path, image_dir)
    category_map = {i: c["id"] for i, c in enumerate(dataset.class_info)}
    dets = []
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        result = {
            "rois": utils.extract_bboxes(masks),
            "class_ids": class_ids,
            "scores": np.ones(len(class_ids), np.float32),
            "masks": masks,
        }
        dets += detections_to_coco(dataset.image_info[image_id]["id"], result, category_map)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        coco_eval = COCOeval(gt, gt.loadRes(dets), "segm")
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    assert len(dets) == 11
    assert coco_eval.stats[0] == pytest.approx(1.0)


def test_byte_order_mark_and_box_only_annotations(tmp_path):
    """A json saved with a BOM (Windows tools) reads; an annotation with only a bbox (absent, null or empty
    segmentation) is its box; without either it is an error naming the annotation."""
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "1.png")
    anns = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 2, 4, 3]},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [8, 6, 5, 4], "segmentation": []},
        {"id": 3, "image_id": 1, "category_id": 3, "bbox": [8, 0, 2, 2], "segmentation": None},
    ]
    data = {"images": [{"id": 1, "file_name": "1.png", "height": H, "width": W}], "annotations": anns}
    path = tmp_path / "instances.json"
    path.write_text("\ufeff" + json.dumps({**data, "categories": CATEGORIES[:1]}), encoding="utf-8")
    masks, class_ids = load(path, tmp_path).load_mask(0)
    assert masks.shape == (H, W, 3) and class_ids.tolist() == [1, 1, 1]
    assert (masks[..., 0] == box_mask(2, 1, 5, 5)).all() and (masks[..., 1] == box_mask(6, 8, 10, 13)).all()
    data["annotations"] = [{"id": 4, "image_id": 1, "category_id": 3}]
    path.write_text(json.dumps({**data, "categories": CATEGORIES[:1]}))
    with pytest.raises(DatasetError, match="annotation 4: no 'segmentation' and no 'bbox'"):
        load(path, tmp_path).load_mask(0)


def test_windows_backslash_file_names(tmp_path):
    (tmp_path / "sub").mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(tmp_path / "sub" / "1.png")
    images = [{"id": 1, "file_name": "sub\\1.png", "height": H, "width": W}]
    path = tmp_path / "instances.json"
    path.write_text(json.dumps({"images": images, "annotations": [], "categories": CATEGORIES}))
    dataset = load(path, tmp_path, skip_empty=False)
    assert dataset.image_info[0]["path"] == str(tmp_path / "sub/1.png")
    assert dataset.load_image(0).shape == (H, W, 3)
