"""COCO-style evaluation with fake models whose detect() returns known results."""

import json

import numpy as np
import pytest

from mrcnn import utils
from mrcnn.evaluate import STAT_NAMES, build_coco_gt, detections_to_coco, evaluate_coco, format_table, save_results

H, W = 40, 48


def box_mask(y1, x1, y2, x2):
    mask = np.zeros((H, W), bool)
    mask[y1:y2, x1:x2] = True
    return mask


class BoxDataset(utils.Dataset):
    """Images of size H x W whose instances are given as (class_id, (y1, x1, y2, x2)); negative = crowd."""

    def __init__(self, images):
        super().__init__()
        self.add_class("toy", 1, "square")
        self.add_class("toy", 2, "bar")
        for i, instances in enumerate(images):
            self.add_image("toy", image_id=i, path=f"toy{i}.png", height=H, width=W, instances=instances)
        self.prepare()

    def load_image(self, image_id):
        return np.zeros((H, W, 3), np.uint8)

    def load_mask(self, image_id):
        instances = self.image_info[image_id]["instances"]
        masks = np.stack([box_mask(*box) for _, box in instances], -1) if instances else np.zeros((H, W, 0), bool)
        return masks, np.array([c for c, _ in instances], np.int32)


def result(instances):
    """A detect() result dict for [(class_id, box, score)]."""
    masks = np.stack([box_mask(*b) for _, b, _ in instances], -1) if instances else np.zeros((H, W, 0), bool)
    return {
        "rois": utils.extract_bboxes(masks),
        "class_ids": np.array([c for c, _, _ in instances], np.int32),
        "scores": np.array([s for *_, s in instances], np.float32),
        "masks": masks,
    }


class FakeModel:
    """detect() returns the prepared results in order of the calls."""

    def __init__(self, results):
        self.results = list(results)

    def detect(self, images, verbose=0):
        assert len(images) == 1 and images[0].shape == (H, W, 3)
        return [self.results.pop(0)]


IMAGES = [[(1, (5, 5, 15, 15)), (2, (20, 4, 26, 40))], [(1, (10, 30, 30, 46))]]


def perfect_results(images):
    return [result([(c, box, 0.9) for c, box in instances if c > 0]) for instances in images]


def test_ground_truth_as_detections_gives_ap_1():
    dataset = BoxDataset(IMAGES)
    results = evaluate_coco(FakeModel(perfect_results(IMAGES)), dataset, verbose=False)
    for iou_type in ("segm", "bbox"):
        stats = results[iou_type]
        assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
        assert stats["per_class"] == {
            "square": {"class_id": 1, "AP": pytest.approx(1.0), "AP50": pytest.approx(1.0)},
            "bar": {"class_id": 2, "AP": pytest.approx(1.0), "AP50": pytest.approx(1.0)},
        }
        assert stats["APl"] is None  # no large (> 96^2 px) ground truth: COCO's -1 becomes None
    assert results["mAP50_compute_ap"] == pytest.approx(1.0)
    assert results["num_images"] == 2 and results["num_detections"] == 3


def test_mean_detect_ms_is_the_mean_time_of_the_detect_calls(monkeypatch):
    import types

    from mrcnn.evaluation import coco

    clock = [0.0]  # A fake perf_counter that only detect() advances: 20 ms, then 10 ms.
    monkeypatch.setattr(coco, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    class TimedModel(FakeModel):
        def detect(self, images, verbose=0):
            clock[0] += 0.010 * len(self.results)
            return super().detect(images, verbose)

    results = evaluate_coco(TimedModel(perfect_results(IMAGES)), BoxDataset(IMAGES), verbose=False)
    assert results["mean_detect_ms"] == pytest.approx(15.0)


def test_shifted_box_lowers_ap_as_expected():
    """IoU of a 10x10 square shifted 2 px = 80/120 = 0.67: it matches at IoU 0.50..0.65, 4 of 10 thresholds."""
    dataset = BoxDataset([[(1, (5, 5, 15, 15))]])
    results = evaluate_coco(FakeModel([result([(1, (5, 7, 15, 17), 0.8)])]), dataset, verbose=False)
    for iou_type in ("segm", "bbox"):
        stats = results[iou_type]
        assert stats["AP"] == pytest.approx(0.4)
        assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == pytest.approx(0.0)
        assert stats["APs"] == pytest.approx(0.4) and stats["APm"] is None and stats["APl"] is None
    assert results["mAP50_compute_ap"] == pytest.approx(1.0)


def test_no_detections_gives_zero_without_crash():
    dataset = BoxDataset(IMAGES)
    results = evaluate_coco(FakeModel([result([]), result([])]), dataset, limit=2, verbose=False)
    for iou_type in ("segm", "bbox"):
        assert results[iou_type]["AP"] == 0.0 and results[iou_type]["AR100"] == 0.0
        assert results[iou_type]["per_class"]["square"]["AP"] == 0.0
    assert results["mAP50_compute_ap"] == 0.0 and results["num_detections"] == 0


def test_crowd_ground_truth_is_ignored():
    """A detection on a crowd region is neither a hit nor a false positive; the crowd is never a miss."""
    dataset = BoxDataset([[(1, (5, 5, 15, 15)), (-2, (20, 0, 40, 48))]])
    model = FakeModel([result([(1, (5, 5, 15, 15), 0.9), (2, (22, 2, 38, 46), 0.95)])])
    results = evaluate_coco(model, dataset, iou_types=("segm",), verbose=False)
    assert "bbox" not in results
    assert results["segm"]["AP"] == pytest.approx(1.0)
    assert results["segm"]["per_class"]["bar"]["AP"] is None  # only crowd ground truth for "bar"


def test_build_coco_gt_boxes_areas_and_crowd():
    coco = build_coco_gt(BoxDataset([[(1, (5, 6, 15, 10)), (-2, (0, 0, 2, 3))], []]), [0, 1])
    anns = coco.loadAnns(coco.getAnnIds())
    assert [a["bbox"] for a in anns] == [[6.0, 5.0, 4.0, 10.0], [0.0, 0.0, 3.0, 2.0]]
    assert [(a["area"], a["iscrowd"], a["category_id"]) for a in anns] == [(40.0, 0, 1), (6.0, 1, 2)]
    assert sorted(coco.getImgIds()) == [0, 1] and coco.imgs[1]["height"] == H
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["square", "bar"]


def test_detections_to_coco_boxes_and_checks():
    dets = detections_to_coco(7, result([(2, (3, 4, 8, 10), 0.5)]), category_map={2: 34})
    assert len(dets) == 1
    assert dets[0]["bbox"] == [4.0, 3.0, 6.0, 5.0] and dets[0]["category_id"] == 34 and dets[0]["image_id"] == 7
    assert dets[0]["area"] == 30.0 and dets[0]["score"] == pytest.approx(0.5)
    bad = result([(2, (3, 4, 8, 10), 0.5)])
    bad["scores"] = np.zeros(2, np.float32)
    with pytest.raises(ValueError, match="instance counts disagree"):
        detections_to_coco(7, bad)


def test_mask_size_mismatch_is_reported():
    wrong = result([(1, (5, 5, 15, 15), 0.9)])
    wrong["masks"] = wrong["masks"][:-1]
    with pytest.raises(ValueError, match=r"image 0: detect: masks are \(39, 48\) but the image is \(40, 48\)"):
        evaluate_coco(FakeModel([wrong]), BoxDataset([[(1, (5, 5, 15, 15))]]), verbose=False)


def test_format_table_and_atomic_save(tmp_path):
    results = evaluate_coco(FakeModel(perfect_results(IMAGES)), BoxDataset(IMAGES), verbose=False)
    table = format_table(results)
    assert table.startswith("| IoU type | " + " | ".join(STAT_NAMES) + " |")
    assert "| segm | 1.000 | 1.000 |" in table and "| bbox |" in table
    assert "| square | 1.000 | 1.000 | 1.000 | 1.000 |" in table and "–" in table
    path = tmp_path / "out" / "results.json"
    save_results(results, path)
    assert json.loads(path.read_text())["segm"]["AP"] == pytest.approx(1.0)
    with pytest.raises(TypeError, match="cannot write object"):
        save_results({"bad": object()}, path)
    assert json.loads(path.read_text())["segm"]["APl"] is None  # the old file is untouched
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temp file left behind
