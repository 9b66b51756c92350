"""VGG Image Annotator (VIA) region files as a ``Dataset``.

Reads the VIA 1.x/2.x export ``via_region_data.json`` (a dict keyed by ``filename + size``; each entry
has ``filename`` and ``regions``, a dict or a list) and VIA 2 project files (the same dict under
``_via_img_metadata``). Region shapes: ``polygon`` (all_points_x/y), ``rect`` (x, y, width, height),
``circle`` (cx, cy, r) and ``ellipse`` (cx, cy, rx, ry, optional theta). Every shape is stored as a
polygon in matterport's layout, ``image_info[i]["polygons"][k] = {"name": "polygon", "all_points_x",
"all_points_y"}``, coordinates in pixels of the original image.

Classes: with ``class_attribute`` the name is ``region_attributes[class_attribute]``, otherwise every
region is ``default_class``. Class names get ids in sorted order unless ``class_names`` fixes it (use
that to keep train and val consistent).
"""

import math

import numpy as np

from mrcnn.data.dataset import Dataset
from mrcnn.data.errors import DatasetError
from mrcnn.datasets.coco import read_json, segmentation_mask, warn_empty
from mrcnn.datasets.files import image_size, resolve_image_path

ELLIPSE_POINTS = 64


class PolygonDataset(Dataset):
    """Base for datasets whose instances are polygons in ``image_info[i]["polygons"]``.

    Each image_info also has ``polygon_class_ids``: the source class id of each polygon.
    """

    def add_class_names(self, source, names):
        """Register class names for ``source`` (existing ones keep their id); → {name: source id}."""
        ids = {c["name"]: c["id"] for c in self.class_info if c["source"] == source}
        for name in names:
            if name not in ids:
                ids[name] = max(ids.values(), default=0) + 1
                self.add_class(source, ids[name], name)
        return ids

    def load_mask(self, image_id):
        """masks: [H, W, N] bool, one per non-empty polygon (clipped to the image); class_ids: [N] int32."""
        info = self.image_info[image_id]
        if "polygons" not in info:
            return super().load_mask(image_id)
        height, width = info["height"], info["width"]
        masks, class_ids = [], []
        for k, (poly, source_id) in enumerate(zip(info["polygons"], info["polygon_class_ids"])):
            flat = np.stack([poly["all_points_x"], poly["all_points_y"]], axis=1).ravel().tolist()
            where = f"{info['path']}: region {k}"
            mask = segmentation_mask([flat], height, width, where)
            if not mask.any():
                warn_empty(where)
                continue
            masks.append(mask)
            class_ids.append(self.map_source_class_id(f"{info['source']}.{source_id}"))
        if not masks:
            return np.zeros((height, width, 0), bool), np.zeros((0,), np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)

    def image_reference(self, image_id):
        """The image file path."""
        return self.image_info[image_id]["path"]


def _points(shape, key, where):
    """shape[key] as a float array; DatasetError unless it is a list of numbers."""
    value = shape[key]
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise DatasetError(f"{where}: polygon {key} must be a list of numbers, got {value!r:.80}")
    return np.array(value, np.float64)


def _scalars(shape, keys, where):
    """[float(shape[key]) for key in keys]; DatasetError if one is missing, not a number or not finite."""
    values = []
    for key in keys:
        value = shape.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DatasetError(f"{where}: {shape.get('name')} needs a number for {key!r}, got {value!r}")
        values.append(float(value))
    return values


def _ellipse(cx, cy, rx, ry, theta=0.0):
    t = np.linspace(0, 2 * math.pi, ELLIPSE_POINTS, endpoint=False)
    x = cx + rx * np.cos(t) * math.cos(theta) - ry * np.sin(t) * math.sin(theta)
    y = cy + rx * np.cos(t) * math.sin(theta) + ry * np.sin(t) * math.cos(theta)
    return x, y


def _check_finite(where, *values):
    """DatasetError unless every coordinate is finite (VIA json may hold NaN or Infinity)."""
    if not all(np.isfinite(v).all() for v in values):
        raise DatasetError(f"{where}: coordinates must be finite numbers (found NaN or Infinity); fix the region")


def shape_to_polygon(shape, where):
    """VIA shape_attributes → (xs, ys) float arrays of polygon vertices in pixels."""
    if not isinstance(shape, dict):
        raise DatasetError(f"{where}: shape_attributes must be an object")
    name = shape.get("name")
    if name == "polygon":
        if "all_points_x" not in shape or "all_points_y" not in shape:
            raise DatasetError(f"{where}: polygon has no all_points_x / all_points_y")
        xs, ys = _points(shape, "all_points_x", where), _points(shape, "all_points_y", where)
        if len(xs) != len(ys):
            raise DatasetError(f"{where}: polygon has {len(xs)} all_points_x but {len(ys)} all_points_y values")
        if len(xs) < 3:
            raise DatasetError(f"{where}: polygon needs at least 3 points, got {len(xs)}")
        _check_finite(where, xs, ys)
        return xs, ys
    if name == "rect":
        x, y, w, h = _scalars(shape, ["x", "y", "width", "height"], where)
        return np.array([x, x + w, x + w, x]), np.array([y, y, y + h, y + h])
    if name == "circle":
        cx, cy, r = _scalars(shape, ["cx", "cy", "r"], where)
        return _ellipse(cx, cy, r, r)
    if name == "ellipse":
        return _ellipse(*_scalars({"theta": 0.0, **shape}, ["cx", "cy", "rx", "ry", "theta"], where))
    raise DatasetError(f"{where}: unsupported shape {name!r}; use polygon, rect, circle or ellipse")


def _read_via(annotation_json):
    """The VIA image dict {key: entry} of an export or a VIA 2 project file."""
    data = read_json(annotation_json)
    if isinstance(data, dict) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    if not isinstance(data, dict):
        raise DatasetError(f"{annotation_json}: expected a JSON object of VIA image entries")
    return data


def _region_items(entry, where):
    """[(index, region)] from a VIA entry whose regions are a dict or a list."""
    regions = entry.get("regions")
    if isinstance(regions, dict):
        return list(regions.items())
    if isinstance(regions, list):
        return list(enumerate(regions))
    raise DatasetError(f"{where}: 'regions' must be a list or an object, got {type(regions).__name__}")


def _region_class(region, class_attribute, default_class, where):
    if class_attribute is None:
        return default_class
    value = (region.get("region_attributes") or {}).get(class_attribute)
    if isinstance(value, dict):  # VIA checkbox attribute: {"option": true, ...}
        chosen = [k for k, on in value.items() if on]
        value = chosen[0] if len(chosen) == 1 else None
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: region_attributes[{class_attribute!r}] must name one class, got {value!r}")
    return value.strip()


def _entry_polygons(entry, where, class_attribute, default_class, class_names):
    """(polygons in matterport's layout, class names) of one VIA image entry."""
    polygons, names = [], []
    for index, region in _region_items(entry, where):
        region_where = f"{where}, region {index}"
        if not isinstance(region, dict):
            raise DatasetError(f"{region_where}: region must be an object")
        xs, ys = shape_to_polygon(region.get("shape_attributes"), region_where)
        polygons.append({"name": "polygon", "all_points_x": xs.tolist(), "all_points_y": ys.tolist()})
        name = _region_class(region, class_attribute, default_class, region_where)
        if class_names is not None and name not in class_names:
            raise DatasetError(f"{region_where}: class {name!r} is not in class_names {list(class_names)}")
        names.append(name)
    return polygons, names


class ViaDataset(PolygonDataset):
    """Regions of a VIA json; see the module docstring for the accepted layout."""

    def load_via(
        self,
        annotation_json,
        image_dir,
        source="via",
        class_attribute=None,
        default_class="object",
        class_names=None,
        skip_empty=True,
    ):
        """Add the images and regions of a VIA file; images are looked up in ``image_dir`` by filename.

        class_names: optional fixed class order; a region naming another class raises DatasetError.
        skip_empty: leave out images without regions (as matterport's balloon sample).
        Raises DatasetError naming the json file, the image key and the region index.
        """
        annotation_json = str(annotation_json)
        images = []
        for key, entry in _read_via(annotation_json).items():
            where = f"{annotation_json}: image {key!r}"
            if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
                raise DatasetError(f"{where}: entry needs a 'filename' string and 'regions'")
            polygons, names = _entry_polygons(entry, where, class_attribute, default_class, class_names)
            if polygons or not skip_empty:
                images.append((key, entry["filename"], polygons, names))
        self._add_via_images(images, annotation_json, image_dir, source, class_names)

    def _add_via_images(self, images, annotation_json, image_dir, source, class_names):
        ids = self.add_class_names(source, class_names or sorted({n for *_, names in images for n in names}))
        for key, filename, polygons, names in images:
            path = resolve_image_path(image_dir, filename)
            height, width = image_size(path, f"{annotation_json}: image {key!r}")
            self.add_image(
                source,
                image_id=filename,
                path=path,
                width=width,
                height=height,
                polygons=polygons,
                polygon_class_ids=[ids[n] for n in names],
            )
