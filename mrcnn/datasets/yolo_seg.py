"""Ultralytics YOLO segmentation labels as a ``Dataset``.

Layouts:
- a data yaml ``{path: ROOT, train: images/train, val: images/val, names: [cat, dog]}`` (``names`` may also be a
  dict ``{0: cat, 1: dog}``; ``path`` is relative to the yaml's folder, default that folder). ``train``/``val``/``test``
  name an image folder (or a list of them) under ROOT; the split loaded is ``split`` (default ``train``);
- a folder with ``images/`` and ``labels/`` (class names from a data yaml or ``classes.txt`` in it if present, one
  name per line, else ``class0``, ``class1``, ...); ``split`` picks ``images/<split>``, default ``images/train`` if
  it exists, else every image under ``images/``.

Each image ``.../images/<sub>/<stem>.<ext>`` has its labels in ``.../labels/<sub>/<stem>.txt`` (the last ``images``
folder of the path replaced by ``labels``); a missing label file means a negative image. Label lines are
``class x1 y1 x2 y2 ...`` with coordinates normalised to [0, 1] (at least 3 points); a line of 5 numbers
``class cx cy w h`` is a box and becomes a rectangle. Class ids are 0-based indexes into ``names``.
"""

import glob
import os

import numpy as np
import yaml

from mrcnn.data.errors import DatasetError
from mrcnn.datasets.checks import BORDER_TOLERANCE, Problems, checked_frame
from mrcnn.datasets.files import walk_files
from mrcnn.datasets.via import PolygonDataset

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SPLITS = ("train", "val", "test")


def read_data_yaml(yaml_path):
    """The parsed data yaml (a dict with ``names``); DatasetError naming the file otherwise."""
    try:
        with open(yaml_path, encoding="utf-8") as f:
            data = yaml.safe_load(f)
    except FileNotFoundError:
        raise DatasetError(f"{yaml_path}: file not found") from None
    except yaml.YAMLError as e:
        raise DatasetError(f"{yaml_path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or "names" not in data:
        raise DatasetError(f"{yaml_path}: not a YOLO data yaml (needs 'names' and 'train'/'val')")
    return data


def yaml_names(data, yaml_path):
    """``names`` of a data yaml as a list indexed by class id."""
    names = data["names"]
    if isinstance(names, dict):
        if sorted(names) != list(range(len(names))):
            raise DatasetError(f"{yaml_path}: names keys must be the class ids 0..{len(names) - 1}")
        names = [names[k] for k in range(len(names))]
    if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
        raise DatasetError(f"{yaml_path}: names must be a list or an {{id: name}} mapping")
    return [str(n) for n in names]


def image_files(folder):
    """Image files under ``folder`` (recursive, any case of extension), sorted; each file once, even through a
    folder link that loops back."""
    return [p for p in walk_files(folder) if p.lower().endswith(IMAGE_EXTENSIONS)]


def label_path(image_path):
    """The label file of an image: its last ``images`` folder replaced by ``labels``, suffix ``.txt``."""
    parts = os.path.normpath(image_path).split(os.sep)
    k = len(parts) - 1 - parts[::-1].index("images")
    return os.path.splitext(os.sep.join(parts[:k] + ["labels"] + parts[k + 1 :]))[0] + ".txt"


def parse_line(text, num_classes, size=None):
    """'c x1 y1 ...' → (class index, xs, ys) normalised; DatasetError with the reason if malformed.

    size: (height, width) of the image; a coordinate then may lie up to BORDER_TOLERANCE pixels outside [0, 1]
    (exporters round 1.0 to 1.0000001) and is clipped to it.
    """
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise DatasetError(f"values must be numbers, got {text.strip()!r:.80}") from None
    cls = values[0]
    if not (cls.is_integer() and 0 <= cls < num_classes):
        raise DatasetError(
            f"unknown class id {text.split()[0]}; names has {num_classes} classes (0..{num_classes - 1})"
        )
    coords = np.array(values[1:])
    if len(coords) == 4:  # a box: cx cy w h
        cx, cy, w, h = coords
        coords = np.array(
            [cx - w / 2, cy - h / 2, cx + w / 2, cy - h / 2, cx + w / 2, cy + h / 2, cx - w / 2, cy + h / 2]
        )
    if len(coords) % 2:
        raise DatasetError(f"odd number of coordinates ({len(coords)}): each point needs an x and a y")
    if len(coords) < 6:
        raise DatasetError(f"polygon needs at least 3 x y pairs, got {len(coords)} values")
    tx, ty = (BORDER_TOLERANCE / size[1], BORDER_TOLERANCE / size[0]) if size else (0.0, 0.0)
    xs, ys = coords[0::2], coords[1::2]
    if not np.isfinite(coords).all() or xs.min() < -tx or ys.min() < -ty or xs.max() > 1 + tx or ys.max() > 1 + ty:
        raise DatasetError(
            f"coordinates must be normalised to [0, 1], got {coords.min():g}..{coords.max():g} (pixels? divide x by "
            "the width and y by the height)"
        )
    return int(cls), np.clip(xs, 0, 1), np.clip(ys, 0, 1)


def _lines(path):
    """Lines of a text file, [] if it does not exist (an image without labels)."""
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8-sig") as f:  # -sig: a byte-order mark (Windows Notepad) is not a value
        return f.read().splitlines()


def _resolve_split(yaml_path, data, split):
    """Image folders of ``split`` in a data yaml. An entry "../x" that does not exist is read as "x" under the
    root, as Ultralytics does (Roboflow's exports write train: ../train/images beside the yaml)."""
    root = os.path.join(os.path.dirname(os.path.abspath(yaml_path)), str(data.get("path") or ""))
    if not os.path.isdir(root):
        raise DatasetError(
            f"{yaml_path}: 'path: {data.get('path')}' is not a folder here; fix it, or remove it for the yaml's folder"
        )
    entry = data.get(split)
    if entry is None:
        raise DatasetError(f"{yaml_path}: no {split!r} entry; it has {', '.join(k for k in SPLITS if k in data)}")
    folders = []
    for e in map(str, entry if isinstance(entry, list) else [entry]):
        folder = os.path.join(root, e)
        if not os.path.exists(folder) and e.startswith("../") and os.path.exists(os.path.join(root, e[3:])):
            folder = os.path.join(root, e[3:])
        folders.append(os.path.normpath(folder))
    return folders


class YoloSegDataset(PolygonDataset):
    """YOLO-seg polygons; see the module docstring for the layouts."""

    def load_yolo(self, path, split=None, source="yolo", class_names=None, skip_bad=False):
        """Add the images of a data yaml's ``split``, or of a folder with images/ and labels/.

        class_names: fixed class order (names of the data); default: the data's ``names`` in id order.
        Bad lines raise DatasetError naming the label file and line, or with skip_bad go to ``self.problems``.
        """
        path = str(path)
        names, folders = self._layout(path, split)
        images = [p for folder in folders for p in image_files(folder)]
        if not images:
            raise DatasetError(f"{path}: no images found in {', '.join(folders)}")
        for name in class_names or []:
            if name not in names:
                raise DatasetError(f"{path}: class {name!r} of class_names is not in the data's names {names}")
        ids = self.add_class_names(source, class_names or names)
        self.problems = Problems(skip_bad)
        for image_path in images:
            self._add_yolo_image(source, image_path, names, ids)

    def _layout(self, path, split):
        """(class names, image folders) of a yaml file or an images/ + labels/ folder."""
        if os.path.isfile(path):
            data = read_data_yaml(path)
            return yaml_names(data, path), _resolve_split(path, data, split or "train")
        yamls = sorted(glob.glob(os.path.join(path, "*.yaml")) + glob.glob(os.path.join(path, "*.yml")))
        classes_txt = os.path.join(path, "classes.txt")
        if yamls:
            names = yaml_names(read_data_yaml(yamls[0]), yamls[0])
        elif os.path.isfile(classes_txt):
            with open(classes_txt, encoding="utf-8-sig") as f:
                names = [line.strip() for line in f if line.strip()]
        else:
            names = None
        folder = os.path.join(path, "images")
        if split is None and os.path.isdir(os.path.join(folder, "train")):
            split = "train"
        if split:
            folder = os.path.join(folder, split)
            if not os.path.isdir(folder):
                raise DatasetError(f"{path}: no images/{split} folder for split {split!r}")
        if names is None:
            names = [f"class{k}" for k in range(1 + self._max_class_id(folder))]
        return names, [folder]

    @staticmethod
    def _max_class_id(folder):
        """Largest integer class id in the label files of ``folder``'s images (-1 if none)."""
        best = -1
        for image_path in image_files(folder):
            for line in _lines(label_path(image_path)):
                head = line.split()[:1]
                if head and head[0].isdigit():
                    best = max(best, int(head[0]))
        return best

    def _add_yolo_image(self, source, image_path, names, ids):
        labels = label_path(image_path)
        # Ultralytics reads images upright (EXIF orientation applied), so its labels are in that grid
        frame = checked_frame(image_path, self.problems, image_path, upright=True)
        if frame is None:
            return
        height, width, exif = frame
        polygons, class_ids = [], []
        for number, text in enumerate(_lines(labels), start=1):
            if not text.strip():
                continue
            try:
                cls, xs, ys = parse_line(text, len(names), (height, width))
            except DatasetError as e:
                self.problems.reject(labels, number, str(e), unit="line")
                continue
            if names[cls] not in ids:
                self.problems.reject(labels, number, f"class {names[cls]!r} is not in class_names", unit="line")
                continue
            polygons.append({"name": "polygon", "all_points_x": list(xs * width), "all_points_y": list(ys * height)})
            class_ids.append(ids[names[cls]])
        self.add_image(
            source,
            image_id=image_path,
            path=image_path,
            width=width,
            height=height,
            polygons=polygons,
            polygon_class_ids=class_ids,
            annotation_file=labels,
            **({"exif": True} if exif else {}),
        )
