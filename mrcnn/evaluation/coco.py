"""COCO-style evaluation (pycocotools) of any model with ``detect()`` on any ``Dataset``.

Ground truth comes from ``dataset.load_mask``: each instance mask becomes a compressed RLE, its COCO
box ``[x, y, w, h]`` and area are taken from the mask, and a negative class id marks a crowd
instance. COCO image ids are the dataset's internal image ids and COCO category ids its internal
class ids (1..K), so predictions need no mapping. Results name classes by ``dataset.class_names``.

``evaluate_coco`` returns a dict::

    {"segm": {"AP": .., "AP50": .., ..., "ARl": .., "per_class": {name: {"class_id", "AP", "AP50"}}},
     "bbox": {...},
     "mAP50_compute_ap": mean of compute_ap at IoU 0.5 over the images with ground truth (matterport's metric;
                         its value for an image without any is 0 or nan),
     "mean_detect_ms": .., "num_images": .., "num_detections": ..}

A stat COCO reports as -1 (no ground truth of that size or class) is None.
"""

import contextlib
import io
import time

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from tqdm import tqdm

from mrcnn.data.masks import extract_bboxes
from mrcnn.data.rle import encode_rle
from mrcnn.engine.atomic import write_json
from mrcnn.evaluation.metrics import compute_ap
from mrcnn.inference.results import check_result

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
IOU_TYPES = ("segm", "bbox")


def gt_annotations(image_id, masks, class_ids, first_id=1):
    """COCO annotation dicts for one image's ground truth.

    masks: [H, W, N] bool; class_ids: [N] int, negative = crowd. Empty masks are skipped.
    Annotation ids count up from ``first_id``.
    """
    class_ids = np.asarray(class_ids).reshape(-1)
    if len(class_ids) == 0:
        return []
    rles = encode_rle(masks)
    areas, boxes = mask_util.area(rles), mask_util.toBbox(rles)
    anns = []
    for rle, area, box, class_id in zip(rles, areas, boxes, class_ids):
        if area == 0 or class_id == 0:
            continue
        anns.append(
            {
                "id": first_id + len(anns),
                "image_id": int(image_id),
                "category_id": int(abs(class_id)),
                "segmentation": rle,
                "area": float(area),
                "bbox": [float(v) for v in box],
                "iscrowd": int(class_id < 0),
            }
        )
    return anns


def detections_to_coco(image_id, result, category_map=None):
    """COCO result dicts from one ``detect()`` result.

    result: {"rois": [N, (y1, x1, y2, x2)] int pixels (y2/x2 exclusive), "class_ids": [N] int32,
    "scores": [N] float32, "masks": [H, W, N] bool}. category_map: optional {class_id: category_id}
    (e.g. back to the original COCO ids); identity by default. "area" is the mask area.
    """
    result = check_result(result, where=f"detections_to_coco: image {image_id}")
    rois = result["rois"]
    if len(rois) == 0:
        return []
    rles = encode_rle(result["masks"])
    areas = mask_util.area(rles)
    dets = []
    for roi, class_id, score, rle, area in zip(rois, result["class_ids"], result["scores"], rles, areas):
        y1, x1, y2, x2 = (float(v) for v in roi)
        class_id = int(class_id)
        dets.append(
            {
                "image_id": int(image_id),
                "category_id": int(category_map[class_id]) if category_map else class_id,
                "bbox": [x1, y1, x2 - x1, y2 - y1],
                "score": float(score),
                "segmentation": rle,
                "area": float(area),
            }
        )
    return dets


def _categories(dataset):
    return [{"id": i, "name": name} for i, name in enumerate(dataset.class_names) if i > 0]


def _make_coco(images, annotations, categories):
    coco = COCO()
    coco.dataset = {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _image_entry(image_id, height, width):
    return {"id": int(image_id), "height": int(height), "width": int(width), "file_name": str(image_id)}


def build_coco_gt(dataset, image_ids):
    """pycocotools COCO ground truth for ``image_ids`` of a prepared Dataset."""
    images, anns = [], []
    for image_id in image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        info = dataset.image_info[image_id]
        if masks.shape[-1] == 0 and "height" in info and "width" in info:
            height, width = info["height"], info["width"]
        elif masks.shape[-1] == 0:
            height, width = dataset.load_image(image_id).shape[:2]
        else:
            height, width = masks.shape[:2]
        images.append(_image_entry(image_id, height, width))
        anns += gt_annotations(image_id, masks, class_ids, first_id=len(anns) + 1)
    return _make_coco(images, anns, _categories(dataset))


def _results_coco(coco_gt, dets, iou_type):
    """Detections as a COCO object (like COCO.loadRes, but empty lists work and area follows iou_type)."""
    anns = []
    for i, det in enumerate(dets, start=1):
        ann = dict(det, id=i, iscrowd=0)
        if iou_type == "bbox":
            ann["area"] = det["bbox"][2] * det["bbox"][3]
        anns.append(ann)
    return _make_coco(coco_gt.dataset["images"], anns, coco_gt.dataset["categories"])


def _none_if_missing(value):
    return None if value is None or value < 0 else float(value)


def _per_class(coco_eval, class_names):
    """{name: {"class_id", "AP", "AP50"}} from COCOeval.eval["precision"] [T, R, K, A, M]."""
    precision = coco_eval.eval["precision"][:, :, :, 0, -1]  # area "all", maxDets 100
    out = {}
    for k, class_id in enumerate(coco_eval.params.catIds):
        name = class_names[class_id]
        key = name if name not in out else f"{name} ({class_id})"
        ap, ap50 = precision[:, :, k], precision[0, :, k]
        out[key] = {
            "class_id": int(class_id),
            "AP": float(ap[ap > -1].mean()) if (ap > -1).any() else None,
            "AP50": float(ap50[ap50 > -1].mean()) if (ap50 > -1).any() else None,
        }
    return out


def coco_stats(coco_gt, dets, iou_type, class_names, verbose=False):
    """Run COCOeval for one iou_type → {stat name: float or None, ..., "per_class": {...}}."""
    coco_eval = COCOeval(coco_gt, _results_coco(coco_gt, dets, iou_type), iou_type)
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    if verbose:
        print(f"COCO {iou_type}:\n" + "\n".join(line for line in summary.getvalue().splitlines() if "Average" in line))
    stats = {name: _none_if_missing(v) for name, v in zip(STAT_NAMES, coco_eval.stats)}
    stats["per_class"] = _per_class(coco_eval, class_names)
    return stats


def _compute_ap50(gt_masks, gt_class_ids, result):
    """matterport's per-image mask AP at IoU 0.5 (compute_ap), crowd ground truth left out."""
    keep = np.asarray(gt_class_ids) > 0
    gt_masks = gt_masks[..., keep]
    return compute_ap(
        extract_bboxes(gt_masks),
        np.asarray(gt_class_ids)[keep],
        gt_masks,
        result["rois"],
        result["class_ids"],
        result["scores"],
        result["masks"],
        iou_threshold=0.5,
    )[0]


def _check_gt_shape(image_id, image, gt_masks):
    expected = tuple(image.shape[:2])
    if gt_masks.shape[-1] and tuple(gt_masks.shape[:2]) != expected:
        raise ValueError(
            f"image {image_id}: load_mask masks are {gt_masks.shape[:2]} but the image is {expected}; "
            f"masks must be full image size [H, W, N]"
        )


def evaluate_coco(model, dataset, image_ids=None, limit=None, iou_types=IOU_TYPES, verbose=True):
    """COCO mask/box AP of ``model.detect([image], verbose=0)[0]`` over a prepared dataset.

    image_ids: internal ids (default all); limit: keep only the first ``limit`` of them.
    Returns the dict described in the module docstring.
    """
    unknown = set(iou_types) - set(IOU_TYPES)
    if unknown:
        raise ValueError(f"evaluate_coco: iou_types {sorted(unknown)} not supported; use {IOU_TYPES}")
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)[:limit]
    images, gt_anns, dets, aps, seconds = [], [], [], [], []
    for image_id in tqdm(image_ids, desc="evaluate", unit="image", disable=not verbose):
        image = dataset.load_image(image_id)
        gt_masks, gt_class_ids = dataset.load_mask(image_id)
        start = time.perf_counter()
        result = model.detect([image], verbose=0)[0]
        seconds.append(time.perf_counter() - start)
        _check_gt_shape(image_id, image, gt_masks)
        result = check_result(result, image.shape, where=f"image {image_id}: detect")
        images.append(_image_entry(image_id, *image.shape[:2]))
        gt_anns += gt_annotations(image_id, gt_masks, gt_class_ids, first_id=len(gt_anns) + 1)
        dets += detections_to_coco(image_id, result)
        if (np.asarray(gt_class_ids) > 0).any():
            aps.append(_compute_ap50(gt_masks, gt_class_ids, result))
    coco_gt = _make_coco(images, gt_anns, _categories(dataset))
    results = {t: coco_stats(coco_gt, dets, t, dataset.class_names, verbose) for t in iou_types}
    results.update(
        mAP50_compute_ap=float(np.mean(aps)) if aps else None,
        mean_detect_ms=1000 * float(np.mean(seconds)) if seconds else None,
        num_images=len(image_ids),
        num_detections=len(dets),
    )
    return results


def _fmt(value):
    return "–" if value is None else f"{value:.3f}"


def format_table(results):
    """Markdown tables: the 12 COCO stats per IoU type, then AP / AP50 per class."""
    iou_types = [t for t in IOU_TYPES if t in results]
    lines = ["| IoU type | " + " | ".join(STAT_NAMES) + " |", "|---" * (len(STAT_NAMES) + 1) + "|"]
    lines += [f"| {t} | " + " | ".join(_fmt(results[t][s]) for s in STAT_NAMES) + " |" for t in iou_types]
    classes = list(results[iou_types[0]]["per_class"]) if iou_types else []
    if classes:
        lines += [
            "",
            "| class | " + " | ".join(f"{t} AP | {t} AP50" for t in iou_types) + " |",
            "|---" * (2 * len(iou_types) + 1) + "|",
        ]
        for name in classes:
            cells = [_fmt(results[t]["per_class"][name][k]) for t in iou_types for k in ("AP", "AP50")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"mAP50 (compute_ap, mean over images): {_fmt(results.get('mAP50_compute_ap'))}; "
        f"detect: {_fmt(results.get('mean_detect_ms'))} ms/image over {results.get('num_images')} images",
    ]
    return "\n".join(lines) + "\n"


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"save_results: cannot write {type(value).__name__} as JSON")


def save_results(results, path):
    """Write ``results`` as JSON to ``path`` atomically (temp file in the same folder, then os.replace)."""
    write_json(path, results, default=_json_default)
