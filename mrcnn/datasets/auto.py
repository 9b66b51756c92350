"""One entry point for every annotation format: ``load_dataset(path)`` detects the format, returns a prepared Dataset.

``FORMATS`` maps a format name to its loader, ``loader(path, images=None, class_names=None, skip_bad=False)`` → an
unprepared Dataset; ``DETECTORS`` maps the same name to ``detector(path) -> bool`` (does ``path`` look like it) and
``LAYOUTS`` to a few words for error messages. Register a new format with ``register(name, detector, layout)`` used as
a decorator on its loader.
"""

import glob
import os

from mrcnn.data.errors import DatasetError
from mrcnn.datasets.checks import Problems, checked_image_size
from mrcnn.datasets.coco import CocoDataset, annotation_segmentation, read_json, segmentation_mask
from mrcnn.datasets.files import image_frame, resolve_image_path
from mrcnn.datasets.labelme import LabelMeDataset, is_labelme_file
from mrcnn.datasets.mask_png import MaskPngDataset
from mrcnn.datasets.via import ViaDataset, _entry_polygons, _read_via
from mrcnn.datasets.yolo_seg import YoloSegDataset

FORMATS = {}
DETECTORS = {}
LAYOUTS = {}


def register(name, detector, layout):
    """Decorator: add ``loader`` to FORMATS, ``detector(path) -> bool`` to DETECTORS and ``layout`` to LAYOUTS."""

    def add(loader):
        FORMATS[name] = loader
        DETECTORS[name] = detector
        LAYOUTS[name] = layout
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


def _coco_image_dir(annotation_json, data, images):
    """``images``, or the first of: the json's folder, its ``images``, its parent, the parent's ``images``,
    that holds the first image file of the json (COCO file names may be relative to the dataset root)."""
    if images is not None:
        return str(images)
    here = os.path.dirname(os.path.abspath(annotation_json))
    up = os.path.dirname(here)
    candidates = [here, os.path.join(here, "images"), up, os.path.join(up, "images")]
    first = next((img.get("file_name") for img in data.get("images", []) if isinstance(img, dict)), None)
    for folder in candidates:
        if first is None or os.path.isfile(resolve_image_path(folder, str(first))):
            return folder
    raise DatasetError(
        f"{annotation_json}: image {first!r} not found beside the json, under images/ or one folder up; "
        "pass images=<folder>"
    )


def _check_polygon_points(segmentation):
    """DatasetError for a polygon of fewer than 3 points (CocoDataset would drop it silently, having no area)."""
    for k, poly in enumerate(segmentation if isinstance(segmentation, list) else []):
        if isinstance(poly, (list, tuple)) and len(poly) < 6:
            raise DatasetError(f"segmentation: polygon {k} needs at least 3 points, got {len(poly) // 2}")


class _CheckedCocoDataset(CocoDataset):
    """CocoDataset whose missing images and malformed segmentations go to ``self.problems`` (see Problems)."""

    def _add_coco_image(self, source, img, anns, image_dir, annotation_json):
        kept = []
        for ann in anns:
            try:
                segmentation = annotation_segmentation(ann, "segmentation")
                segmentation_mask(segmentation, img.get("height", 0), img.get("width", 0), "segmentation")
                _check_polygon_points(segmentation)
                kept.append(ann)
            except DatasetError as e:
                self.problems.reject(annotation_json, ann.get("id"), f"image {img.get('id')}: {e}")
        fields = {}
        if isinstance(img.get("file_name"), str) and "height" in img and "width" in img:
            # the file must be an image of the size the json gives (or that size upright, by its EXIF orientation)
            path = resolve_image_path(image_dir, img["file_name"])
            expected = (img["height"], img["width"]) if _is_size(img["height"], img["width"]) else None
            try:
                fields = {"exif": True} if image_frame(path, "", expected)[2] else {}
            except DatasetError as e:
                self.problems.reject(annotation_json, img.get("id"), str(e).removeprefix(": "), "image")
                return
        try:
            super()._add_coco_image(source, img, kept, image_dir, annotation_json, **fields)
        except DatasetError as e:
            self.problems.reject(annotation_json, img.get("id"), str(e).removeprefix(f"{annotation_json}: "), "image")


def _is_size(*values):
    return all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)


@register("coco", _is_coco, "a COCO instances json")
def load_coco(path, images=None, class_names=None, skip_bad=False):
    """A COCO instances json; images beside it, under ``images/`` or one folder up (or ``images``)."""
    data = read_json(path)
    dataset = _CheckedCocoDataset()
    dataset.problems = Problems(skip_bad)
    _check_coco_categories(path, data, dataset.problems)
    dataset.load_coco(path, _coco_image_dir(path, data, images), categories=class_names, skip_empty=False)
    return dataset


def _check_coco_categories(path, data, problems):
    """Reject annotations whose category_id is not in the file's categories (load_coco would ignore them)."""
    ids = {c.get("id") for c in data.get("categories", []) if isinstance(c, dict)}
    for ann in data.get("annotations", []):
        if isinstance(ann, dict) and ann.get("category_id") not in ids:
            known = sorted(ids, key=str)
            problems.reject(path, ann.get("id"), f"unknown category_id {ann.get('category_id')!r}; categories {known}")


def _via_regions(entry):
    regions = entry.get("regions") if isinstance(entry, dict) else None
    items = regions.values() if isinstance(regions, dict) else regions if isinstance(regions, list) else []
    return [r for r in items if isinstance(r, dict)]


# region_attributes keys that usually hold the class, in the order they are preferred (compared in lower case)
CLASS_KEYS = ("class", "label", "name", "category", "type", "object")


def _names_a_class(value):
    """True for a class name: a non-empty string, or a VIA checkbox/dropdown {option: true} with one option set."""
    if isinstance(value, dict):
        return sum(bool(on) for on in value.values()) == 1
    return isinstance(value, str) and bool(value.strip())


def via_class_attribute(entries):
    """The region_attributes key that names the class, or None if no region names one.

    The first of CLASS_KEYS (any case) that names a class in some region; a region whose value for it is missing or
    empty is then an error, not a silent fall-back of every region to one class. Else a key that names a class in
    every region (several: the first in sorted order); a key only some regions fill (a note) is not the class.
    """
    counts, regions = {}, 0
    for region in (r for entry in entries.values() for r in _via_regions(entry)):
        regions += 1
        attributes = region.get("region_attributes")
        for key, value in attributes.items() if isinstance(attributes, dict) else []:
            if _names_a_class(value):
                counts[key] = counts.get(key, 0) + 1
    for wanted in CLASS_KEYS:
        known = sorted(k for k in counts if str(k).strip().lower() == wanted)
        if known:
            return known[0]
    everywhere = sorted(k for k, n in counts.items() if n == regions)
    return everywhere[0] if everywhere else None


def _checked_via_entries(dataset, annotation_json, image_dir, class_attribute, default_class, class_names):
    """[(key, filename, polygons, names)] of a VIA file; bad images and regions go to ``dataset.problems``."""
    images = []
    for key, entry in _read_via(annotation_json).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            dataset.problems.reject(annotation_json, key, "entry needs a 'filename' string and 'regions'", "image")
            continue
        if (
            checked_image_size(resolve_image_path(image_dir, entry["filename"]), dataset.problems, annotation_json)
            is None
        ):
            continue
        polygons, names = [], []
        for index, region in enumerate(_via_regions(entry)):
            try:
                polygon, name = _entry_polygons({"regions": [region]}, "", class_attribute, default_class, class_names)
            except DatasetError as e:
                reason = str(e).removeprefix(", region 0: ")
                dataset.problems.reject(annotation_json, index, f"image {key!r}: {reason}", "region")
                continue
            polygons += polygon
            names += name
        images.append((key, entry["filename"], polygons, names))
    return images


@register("via", lambda path: _via_json(path) is not None, "a VIA json or a folder with via_region_data.json")
def load_via(path, images=None, class_names=None, skip_bad=False):
    """A VIA json, or a folder holding via_region_data.json; images beside the json unless ``images``.

    The class is the region attribute that every region names (e.g. "class" or "name"); without one, every region
    is ``class_names[0]`` if one class name is given, else "object".
    """
    annotation_json = _via_json(path) or path
    image_dir = str(images) if images is not None else os.path.dirname(os.path.abspath(annotation_json))
    class_attribute = via_class_attribute(_read_via(annotation_json))
    default_class = class_names[0] if class_names and len(class_names) == 1 else "object"
    dataset = ViaDataset()
    dataset.problems = Problems(skip_bad)  # the first bad region stops the load (naming --skip-bad) unless skip_bad
    entries = _checked_via_entries(dataset, annotation_json, image_dir, class_attribute, default_class, class_names)
    dataset._add_via_images(entries, annotation_json, image_dir, "via", class_names)
    return dataset


def _is_labelme(path):
    """A folder in which one of the first few json files is a LabelMe file (others may be a stray json)."""
    files = sorted(glob.glob(os.path.join(path, "*.json"))) if os.path.isdir(path) else []
    return any(is_labelme_file(_json_head(f)) for f in files[:5])


@register("labelme", _is_labelme, "a folder of LabelMe *.json")
def load_labelme(path, images=None, class_names=None, skip_bad=False):
    """A folder of LabelMe json files (``images`` is not used: each json names its image)."""
    dataset = LabelMeDataset()
    dataset.load_labelme(path, class_names=class_names, skip_bad=skip_bad)
    return dataset


def _is_yolo(path):
    if os.path.isfile(path):
        return path.lower().endswith((".yaml", ".yml"))
    return os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "labels"))


@register("yolo", _is_yolo, "a YOLO data yaml or a folder with images/ and labels/")
def load_yolo(path, images=None, class_names=None, skip_bad=False):
    """A YOLO data yaml or an images/ + labels/ folder; ``images`` names the split (train, val, test)."""
    dataset = YoloSegDataset()
    dataset.load_yolo(path, split=images, class_names=class_names, skip_bad=skip_bad)
    return dataset


def _is_mask_png(path):
    return os.path.isdir(os.path.join(path, "images")) and os.path.isdir(os.path.join(path, "masks"))


@register("masks", _is_mask_png, "a folder with images/ and masks/")
def load_masks(path, images=None, class_names=None, skip_bad=False):
    """A folder with images/ and masks/ (PNG id maps or one PNG per instance; ``images`` is not used)."""
    dataset = MaskPngDataset()
    dataset.load_masks(path, class_names=class_names, skip_bad=skip_bad)
    return dataset


def _raise_unreadable_json(path):
    """The read error of ``path`` if it is a json file, or of a folder's via_region_data.json, that does not parse
    (a byte of garbage after the data should say so, not 'no known dataset layout')."""
    if os.path.isdir(path):
        if path.lower().rstrip("/").endswith(".json"):
            raise DatasetError(f"{path}: is a folder, not a json file")
        if not os.listdir(path):
            raise DatasetError(f"{path}: the folder is empty")
        path = os.path.join(path, "via_region_data.json")
    if os.path.isfile(path) and path.lower().endswith(".json"):
        read_json(path)


def detect_format(path):
    """Name of the one format in FORMATS that ``path`` looks like; DatasetError if none or several."""
    path = str(path)
    if not os.path.exists(path):
        raise DatasetError(f"{path}: no such file or folder")
    found = [name for name, detector in DETECTORS.items() if detector(path)]
    if not found:
        _raise_unreadable_json(path)
    if len(found) != 1:
        what = "no known dataset layout" if not found else f"several layouts ({', '.join(found)})"
        raise DatasetError(
            f"{path}: found {what}; looked for {'; '.join(LAYOUTS.values())}; pass format= one of {', '.join(FORMATS)}"
        )
    return found[0]


def load_dataset(path, format=None, images=None, class_names=None, skip_bad=False):
    """Load ``path`` (format detected unless given) and return the prepared Dataset.

    images: image folder when it is not where the format expects it (COCO, VIA); for YOLO the split name.
    class_names: fixed class order (use the same list for train and val); default: the classes of the data.
        For COCO: the categories to keep (class ids follow the category ids).
    skip_bad: drop malformed annotations and list them in ``dataset.problems`` [(file, index, message)]
    instead of raising DatasetError.
    """
    path = str(path)
    name = format or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown format {name!r}; use one of {', '.join(FORMATS)}")
    dataset = FORMATS[name](path, images=images, class_names=class_names, skip_bad=skip_bad)
    dataset.format = name
    dataset.prepare()
    return dataset
