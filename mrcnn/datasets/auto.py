"""One entry point for every annotation format: ``load_dataset(path)`` detects the format, returns a prepared Dataset.

``FORMATS`` maps a format name to its loader, ``loader(path, images=None, class_names=None, skip_bad=False)`` → an
unprepared Dataset; ``DETECTORS`` maps the same name to ``detector(path) -> bool`` (does ``path`` look like it).
Register a new format with ``register(name, detector)`` used as a decorator on its loader.
"""

import glob
import os

from mrcnn.data.errors import DatasetError
from mrcnn.datasets.coco import CocoDataset, read_json
from mrcnn.datasets.labelme import LabelMeDataset, is_labelme_file
from mrcnn.datasets.mask_png import MaskPngDataset
from mrcnn.datasets.via import ViaDataset
from mrcnn.datasets.yolo_seg import YoloSegDataset

FORMATS = {}
DETECTORS = {}


def register(name, detector):
    """Decorator: add ``loader`` to FORMATS and ``detector(path) -> bool`` to DETECTORS under ``name``."""

    def add(loader):
        FORMATS[name] = loader
        DETECTORS[name] = detector
        return loader

    return add


def _json_head(path):
    """Parsed json of ``path`` if it is a .json file, else None."""
    if not (os.path.isfile(path) and path.lower().endswith(".json")):
        return None
    try:
        return read_json(path)
    except DatasetError:
        return None


def _is_coco(path):
    data = _json_head(path)
    return isinstance(data, dict) and all(k in data for k in ("images", "annotations", "categories"))


def _via_json(path):
    """The VIA json of ``path`` (the file itself, or via_region_data.json in a folder), or None."""
    if os.path.isdir(path):
        path = os.path.join(path, "via_region_data.json")
    data = _json_head(path)
    if isinstance(data, dict) and "_via_img_metadata" in data:
        return path
    if isinstance(data, dict) and data and all(isinstance(v, dict) and "regions" in v for v in data.values()):
        return path
    return None


def _coco_image_dir(annotation_json, images):
    """``images``, or the first of: the json's folder, its ``images``, its parent, the parent's ``images``,
    that holds the first image file of the json (COCO file names may be relative to the dataset root)."""
    if images is not None:
        return str(images)
    here = os.path.dirname(os.path.abspath(annotation_json))
    up = os.path.dirname(here)
    candidates = [here, os.path.join(here, "images"), up, os.path.join(up, "images")]
    first = next((img.get("file_name") for img in read_json(annotation_json).get("images", [])), None)
    for folder in candidates:
        if first is None or os.path.isfile(os.path.join(folder, str(first))):
            return folder
    raise DatasetError(
        f"{annotation_json}: image {first!r} not found beside the json, under images/ or one folder up; pass images="
    )


@register("coco", _is_coco)
def load_coco(path, images=None, class_names=None, skip_bad=False):
    """A COCO instances json; images beside it, under ``images/`` or one folder up (or ``images``)."""
    dataset = CocoDataset()
    dataset.load_coco(path, _coco_image_dir(path, images), categories=class_names, skip_empty=False)
    return dataset


@register("via", lambda path: _via_json(path) is not None)
def load_via(path, images=None, class_names=None, skip_bad=False):
    """A VIA json, or a folder holding via_region_data.json; images beside the json unless ``images``."""
    annotation_json = _via_json(path) or path
    image_dir = images if images is not None else os.path.dirname(os.path.abspath(annotation_json))
    dataset = ViaDataset()
    dataset.load_via(annotation_json, image_dir, class_names=class_names, skip_empty=False)
    return dataset


def _is_labelme(path):
    files = sorted(glob.glob(os.path.join(path, "*.json"))) if os.path.isdir(path) else []
    return bool(files) and is_labelme_file(_json_head(files[0]))


@register("labelme", _is_labelme)
def load_labelme(path, images=None, class_names=None, skip_bad=False):
    """A folder of LabelMe json files (``images`` is not used: each json names its image)."""
    dataset = LabelMeDataset()
    dataset.load_labelme(path, class_names=class_names, skip_bad=skip_bad)
    return dataset


def _is_yolo(path):
    if os.path.isfile(path):
        return path.lower().endswith((".yaml", ".yml"))
    return os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "labels"))


@register("yolo", _is_yolo)
def load_yolo(path, images=None, class_names=None, skip_bad=False):
    """A YOLO data yaml or an images/ + labels/ folder; ``images`` names the split (train, val, test)."""
    dataset = YoloSegDataset()
    dataset.load_yolo(path, split=images, class_names=class_names, skip_bad=skip_bad)
    return dataset


def _is_mask_png(path):
    return os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "masks"))


@register("masks", _is_mask_png)
def load_masks(path, images=None, class_names=None, skip_bad=False):
    """A folder with images/ and masks/ (PNG id maps or one PNG per instance; ``images`` is not used)."""
    dataset = MaskPngDataset()
    dataset.load_masks(path, class_names=class_names, skip_bad=skip_bad)
    return dataset


def detect_format(path):
    """Name of the one format in FORMATS that ``path`` looks like; DatasetError if none or several."""
    path = str(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file or folder")
    found = [name for name, detector in DETECTORS.items() if detector(path)]
    if len(found) != 1:
        what = "no known dataset layout" if not found else f"several layouts ({', '.join(found)})"
        raise DatasetError(
            f"{path}: found {what}; looked for {', '.join(FORMATS)}; pass format= one of {', '.join(FORMATS)}"
        )
    return found[0]


def load_dataset(path, format=None, images=None, class_names=None, skip_bad=False):
    """Load ``path`` (format detected unless given) and return the prepared Dataset.

    images: image folder when it is not where the format expects it.
    class_names: fixed class order (use the same list for train and val); default: the classes of the data.
    skip_bad: drop malformed annotations and list them in ``dataset.problems`` [(file, index, message)]
    instead of raising DatasetError.
    """
    path = str(path)
    name = format or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    dataset = FORMATS[name](path, images=images, class_names=class_names, skip_bad=skip_bad)
    if not hasattr(dataset, "problems"):
        dataset.problems = []
    dataset.format = name
    dataset.prepare()
    return dataset
