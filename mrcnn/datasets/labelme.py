"""LabelMe annotations (one json per image) as a ``Dataset``.

Layout: a folder of ``*.json`` files, each ``{"imagePath": "a.jpg", "imageData": <base64 or null>,
"imageHeight": H, "imageWidth": W, "shapes": [{"label": "cat", "shape_type": "polygon", "points": [[x, y], ...]}]}``.
The image is ``imagePath`` relative to the json's folder (Windows backslashes are folder separators; an absolute
path from another machine is looked up by its file name beside the json), read upright by its EXIF orientation as
LabelMe shows it (``imageHeight``/``imageWidth`` must be its raw or its upright size); when that file is absent,
the base64 ``imageData`` embedded in the json is decoded instead. Shape types: ``polygon`` (>= 3 points),
``rectangle`` (2 opposite corners) and ``circle`` (centre, then a point on the circle); each shape is one instance
(``group_id`` is not used). Coordinates are pixels; a vertex more than 1 pixel outside the image is rejected.

Classes are the ``label`` values, ids in sorted order unless ``class_names`` fixes the order. Images without shapes
are kept as negatives.
"""

import base64
import binascii
import glob
import io
import math
import os

import numpy as np

from mrcnn.data.errors import DatasetError
from mrcnn.data.images import image_size, read_image
from mrcnn.datasets.checks import Problems, checked_frame, polygon_problem
from mrcnn.datasets.coco import read_json
from mrcnn.datasets.files import resolve_image_path
from mrcnn.datasets.via import PolygonDataset, _ellipse

SHAPE_TYPES = ("polygon", "rectangle", "circle")


def is_labelme_file(data):
    """True if parsed json ``data`` looks like one LabelMe annotation."""
    return (
        isinstance(data, dict) and isinstance(data.get("shapes"), list) and ("imagePath" in data or "imageData" in data)
    )


def shape_polygon(shape):
    """LabelMe shape → (xs, ys) pixel vertices; DatasetError with the reason if it cannot be one."""
    if not isinstance(shape, dict):
        raise DatasetError("shape must be an object")
    kind = shape.get("shape_type") or "polygon"
    try:
        points = np.asarray(shape.get("points"), np.float64).reshape(-1, 2)
    except (TypeError, ValueError):
        raise DatasetError(f"points must be a list of [x, y] pairs, got {shape.get('points')!r:.80}") from None
    if kind == "polygon":
        return points[:, 0], points[:, 1]
    if kind == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = points
        return np.array([x0, x1, x1, x0]), np.array([y0, y0, y1, y1])
    if kind == "circle" and len(points) == 2:
        (cx, cy), (px, py) = points
        radius = math.hypot(px - cx, py - cy)
        return _ellipse(cx, cy, radius, radius)
    if kind in SHAPE_TYPES:
        raise DatasetError(f"{kind} needs 2 points, got {len(points)}")
    raise DatasetError(f"unsupported shape_type {kind!r}; use one of {', '.join(SHAPE_TYPES)}")


def _embedded_size(data):
    """(height, width) of base64 image bytes; DatasetError if they are not an image."""
    try:
        return image_size(base64.b64decode(data, validate=True))
    except (binascii.Error, OSError, ValueError, TypeError) as e:
        raise DatasetError(f"imageData is not a base64 image ({e})") from None


class LabelMeDataset(PolygonDataset):
    """Shapes of a folder of LabelMe json files; see the module docstring for the layout."""

    def load_labelme(self, folder, source="labelme", class_names=None, skip_bad=False):
        """Add every ``*.json`` of ``folder``; bad shapes or images raise DatasetError or, with skip_bad,
        go to ``self.problems`` [(file, index, message)] and are dropped."""
        self.problems = Problems(skip_bad)
        files = sorted(glob.glob(os.path.join(str(folder), "*.json")))
        if not files:
            raise DatasetError(f"{folder}: no LabelMe *.json files found")
        entries = [e for e in (self._read_entry(f, class_names) for f in files) if e is not None]
        ids = self.add_class_names(source, class_names or sorted({n for e in entries for n in e["labels"]}))
        for entry in entries:
            entry["polygon_class_ids"] = [ids[n] for n in entry.pop("labels")]
            self.add_image(source, image_id=os.path.basename(entry["annotation_file"]), **entry)

    def _read_entry(self, json_path, class_names):
        """image_info fields of one LabelMe file (with its shape labels), or None if its image is rejected."""
        try:
            data = read_json(json_path)
        except DatasetError as e:  # one broken file among many: --skip-bad drops it like any other bad file
            self.problems.reject(json_path, None, str(e).removeprefix(f"{json_path}: "))
            return None
        if not is_labelme_file(data):
            reason = "not a LabelMe file (needs 'shapes' and 'imagePath' or 'imageData')"
            self.problems.reject(json_path, None, reason)
            return None
        info = self._image_fields(json_path, data)
        if info is None:
            return None
        polygons, labels = [], []
        for index, shape in enumerate(data["shapes"]):
            label = shape.get("label") if isinstance(shape, dict) else None
            try:
                xs, ys = shape_polygon(shape)
                reason = polygon_problem(xs, ys, info["height"], info["width"])
            except DatasetError as e:
                reason = str(e)
            if reason is None and not (isinstance(label, str) and label.strip()):
                reason = f"label must be a class name, got {label!r}"
            if reason is None and class_names is not None and label.strip() not in class_names:
                reason = f"unknown class {label!r}; class_names are {list(class_names)}"
            if reason is not None:
                self.problems.reject(json_path, index, reason, unit="shape")
                continue
            polygons.append({"name": "polygon", "all_points_x": list(xs), "all_points_y": list(ys)})
            labels.append(label.strip())
        return dict(info, polygons=polygons, labels=labels, annotation_file=json_path)

    def _image_fields(self, json_path, data):
        """path/height/width (and embedded image_data) of a LabelMe file's image, or None if rejected."""
        image_path = data.get("imagePath")
        path = resolve_image_path(os.path.dirname(json_path), image_path) if isinstance(image_path, str) else None
        embedded = data.get("imageData")
        if path is not None and (os.path.isfile(path) or not embedded):
            # LabelMe shows (and annotates) the image upright, by its EXIF orientation
            stated = (data.get("imageHeight"), data.get("imageWidth"))
            expected = stated if all(isinstance(v, int) and v > 0 for v in stated) else None
            frame = checked_frame(path, self.problems, json_path, expected=expected, upright=True)
            if frame is None:
                return None
            return {"path": path, "height": frame[0], "width": frame[1], **({"exif": True} if frame[2] else {})}
        try:
            height, width = _embedded_size(embedded)
        except DatasetError as e:
            self.problems.reject(json_path, None, str(e))
            return None
        return {"path": json_path, "height": height, "width": width, "image_data": embedded}

    def load_image(self, image_id):
        """RGB uint8 [H, W, 3]; decodes the embedded imageData when the image file was absent."""
        info = self.image_info[image_id]
        if "image_data" not in info:
            return super().load_image(image_id)
        try:
            return read_image(io.BytesIO(base64.b64decode(info["image_data"])), exif=False)
        except DatasetError as e:
            raise DatasetError(f"{info['path']}: embedded imageData: {e}") from None
