"""COCO instances json (``instances_*.json``) as a ``Dataset``.

COCO category ids become contiguous class ids 1..K in ascending category-id order (0 is background).
``class_info[k]["id"]`` keeps the COCO category id and ``image_info[i]["id"]`` the COCO image id, so
``dataset.class_info[class_id]["id"]`` maps a prediction back to COCO.

``load_mask`` decodes polygons, uncompressed RLE (``counts`` a list) and compressed RLE (``counts`` a
string); an annotation with only a ``bbox`` (no ``segmentation``, or an empty one) is its box, as a detection
dataset's boxes become rectangles in the YOLO loader. Crowd instances (``iscrowd`` 1) get NEGATIVE class ids, as
in matterport: training drops them from the targets and evaluation marks them crowd.
"""

import contextlib
import io
import json
import os
import warnings

import numpy as np
import pycocotools.mask as mask_util
from pycocotools.coco import COCO

from mrcnn.data.dataset import Dataset
from mrcnn.data.errors import DatasetError
from mrcnn.datasets.files import resolve_image_path


def read_json(path):
    """Parsed JSON of an annotation file; DatasetError naming the file if missing or malformed."""
    try:
        with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark is read, not an error
            return json.load(f)
    except FileNotFoundError:
        raise DatasetError(f"{path}: annotation file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: not valid JSON ({e})") from None


def read_coco(annotation_json):
    """Load an instances json into a pycocotools ``COCO`` without its console chatter."""
    data = read_json(annotation_json)
    missing = (
        [k for k in ("images", "annotations", "categories") if k not in data]
        if isinstance(data, dict)
        else ["images", "annotations", "categories"]
    )
    if missing:
        raise DatasetError(f"{annotation_json}: not a COCO instances file (missing {', '.join(missing)})")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def select_categories(coco, categories, annotation_json):
    """COCO category ids to keep, ascending.

    categories: None (all), or names and/or ids. An unknown one raises DatasetError listing what exists, and so do
    two kept categories of one name (the model's classes are known by name: results would mix them up).
    """
    ids = sorted(coco.cats) if categories is None else _named_categories(coco, categories, annotation_json)
    names = {}
    for cat_id in ids:
        names.setdefault(coco.cats[cat_id]["name"], []).append(cat_id)
    shared = {name: same for name, same in names.items() if len(same) > 1}
    if shared:
        name, same = next(iter(shared.items()))
        raise DatasetError(
            f"{annotation_json}: categories {same} share the name {name!r}; rename them, or give their annotations "
            "one category id"
        )
    return ids


def _named_categories(coco, categories, annotation_json):
    """The ids of `categories` (names and/or ids; a name stands for every category of that name)."""
    by_name = {}
    for c in coco.cats.values():
        by_name.setdefault(c["name"], []).append(c["id"])
    ids = set()
    for cat in categories:
        if isinstance(cat, str):
            if cat not in by_name:
                raise DatasetError(
                    f"{annotation_json}: unknown category name {cat!r}; the file has: {', '.join(sorted(by_name))}"
                )
            ids.update(by_name[cat])
        elif isinstance(cat, (int, np.integer)) and int(cat) in coco.cats:
            ids.add(int(cat))
        else:
            raise DatasetError(
                f"{annotation_json}: unknown category {cat!r}; "
                f"the file has ids {sorted(coco.cats)} named {', '.join(sorted(by_name))}"
            )
    return sorted(ids)


def _polygon_coordinates(poly, height, width, where):
    """Flat [x1, y1, ...] floats, finite, clamped to a band of one image size around the image.

    Non-finite or non-numeric values raise DatasetError (pycocotools' rasteriser crashes the process on NaN,
    inf or huge values). Clamping to [-W, 2W] x [-H, 2H] leaves every real annotation as it is.
    """
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in poly):
        raise DatasetError(f"{where}: coordinates must be numbers, got {list(poly)!r:.80}")
    values = np.asarray(poly, np.float64)
    if not np.isfinite(values).all():
        raise DatasetError(f"{where}: coordinates must be finite numbers (found NaN or Infinity); fix the annotation")
    values[0::2] = np.clip(values[0::2], -width, 2 * width)
    values[1::2] = np.clip(values[1::2], -height, 2 * height)
    return values.tolist()


def segmentation_mask(segmentation, height, width, where):
    """COCO segmentation (polygons, uncompressed or compressed RLE) → mask [height, width] bool.

    Polygons are flat [x1, y1, x2, y2, ...] lists in pixel-corner coordinates (pycocotools'
    rasteriser; clipped to the image). Polygons with fewer than 3 points have no area and are skipped.
    """
    if isinstance(segmentation, list):
        polygons = []
        for k, poly in enumerate(segmentation):
            if not isinstance(poly, (list, tuple)) or len(poly) % 2:
                raise DatasetError(
                    f"{where}: polygon {k} must be a flat list [x1, y1, x2, y2, ...] with an even number of values"
                )
            if len(poly) >= 6:
                polygons.append(_polygon_coordinates(poly, height, width, f"{where}: polygon {k}"))
        if not polygons:
            return np.zeros((height, width), bool)
        rle = mask_util.merge(mask_util.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and "counts" in segmentation and "size" in segmentation:
        if list(segmentation["size"]) != [height, width]:
            raise DatasetError(
                f"{where}: RLE size {segmentation['size']} differs from the image size [{height}, {width}]"
            )
        rle = segmentation
        if isinstance(segmentation["counts"], list):
            rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        raise DatasetError(f"{where}: segmentation must be a list of polygons or an RLE dict with 'size' and 'counts'")
    return mask_util.decode(rle).astype(bool)


def annotation_segmentation(ann, where):
    """The annotation's segmentation; without one (absent, null or []) its ``bbox`` [x, y, w, h] as a rectangle.

    DatasetError if it has neither, or the bbox is not 4 finite numbers with a positive width and height.
    """
    segmentation = ann.get("segmentation")
    if segmentation not in (None, []):
        return segmentation
    bbox = ann.get("bbox")
    if bbox is None:
        raise DatasetError(f"{where}: no 'segmentation' and no 'bbox'")
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
        raise DatasetError(f"{where}: no 'segmentation', and 'bbox' must be [x, y, width, height], got {bbox!r:.80}")
    x, y, w, h = (float(v) for v in bbox)
    if not (np.isfinite([x, y, w, h]).all() and w > 0 and h > 0):
        raise DatasetError(f"{where}: no 'segmentation', and 'bbox' {bbox} has no area (or is not finite)")
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


def warn_empty(where):
    """Warn that an annotation covers no pixel of its image (outside it, or of no area) and is dropped."""
    warnings.warn(
        f"{where}: the annotation covers no pixel of the image (outside it or of no area); dropped", stacklevel=3
    )


class CocoDataset(Dataset):
    """Instances from a COCO json; see the module docstring for the id conventions."""

    def load_coco(self, annotation_json, image_dir, categories=None, skip_empty=True, source="coco"):
        """Add the images and categories of a COCO instances file.

        categories: None (all) or a list of names / COCO category ids to keep.
        skip_empty: leave out images with no annotation of a kept category (crowd ones count).
        Raises DatasetError for a malformed file, an unknown category or a missing image file.
        """
        annotation_json = str(annotation_json)
        coco = read_coco(annotation_json)
        cat_ids = select_categories(coco, categories, annotation_json)
        for cat_id in cat_ids:
            self.add_class(source, cat_id, coco.cats[cat_id]["name"])
        kept = set(cat_ids)
        for img_id in sorted(coco.imgs):
            img = coco.imgs[img_id]
            anns = [a for a in coco.imgToAnns.get(img_id, []) if a.get("category_id") in kept]
            if skip_empty and not anns:
                continue
            self._add_coco_image(source, img, anns, image_dir, annotation_json)

    def _add_coco_image(self, source, img, anns, image_dir, annotation_json, **fields):
        where = f"{annotation_json}: image {img.get('id')}"
        if "file_name" not in img or "height" not in img or "width" not in img:
            raise DatasetError(f"{where}: needs 'file_name', 'height' and 'width'")
        path = resolve_image_path(image_dir, str(img["file_name"]))
        if not os.path.isfile(path):
            raise DatasetError(f"{where} ({img['file_name']}): image file {path} not found")
        self.add_image(
            source,
            image_id=img["id"],
            path=path,
            width=img["width"],
            height=img["height"],
            annotations=anns,
            annotation_file=annotation_json,
            **fields,
        )

    def load_mask(self, image_id):
        """masks: [H, W, N] bool; class_ids: [N] int32, negative for crowd. Empty masks are dropped."""
        info = self.image_info[image_id]
        if "annotations" not in info:
            return super().load_mask(image_id)
        height, width = info["height"], info["width"]
        masks, class_ids = [], []
        for ann in info["annotations"]:
            where = f"{info['annotation_file']}: image {info['id']}, annotation {ann.get('id')}"
            mask = segmentation_mask(annotation_segmentation(ann, where), height, width, where)
            if not mask.any():
                warn_empty(where)
                continue
            class_id = self.map_source_class_id(f"{info['source']}.{ann['category_id']}")
            masks.append(mask)
            class_ids.append(-class_id if ann.get("iscrowd") else class_id)
        if not masks:
            return np.zeros((height, width, 0), bool), np.zeros((0,), np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)

    def image_reference(self, image_id):
        """The COCO image id and file path."""
        info = self.image_info[image_id]
        return f"coco image {info['id']} ({info['path']})"
