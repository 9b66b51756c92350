"""Polygon instances from a CSV file as a ``utils.Dataset``.

Layout: a header line ``filename,class,points``, then one row per instance::

    filename,class,points
    cat1.jpg,cat,"10 20 50 20 50 80 10 80"
    cat1.jpg,dog,12.5 30 40 30 26 60

- ``filename``: image path relative to ``image_dir``; several rows may name the same image.
- ``class``: class name. Names get ids 1..K in sorted order unless ``class_names`` fixes the order.
- ``points``: polygon vertices ``x1 y1 x2 y2 ...`` in pixels of the image, separated by spaces
  (at least 3 points). Coordinates are pixel corners, as in COCO; the polygon is clipped to the image.

Blank lines are skipped. A bad row raises DatasetError with the file name and line number.
"""

import csv
import os

import numpy as np

from mrcnn.data.errors import DatasetError
from mrcnn.datasets.files import image_size
from mrcnn.datasets.via import PolygonDataset

HEADER = ["filename", "class", "points"]


def parse_points(text, where):
    """'x1 y1 x2 y2 ...' → (xs, ys) float lists; DatasetError if not an even count of >= 6 numbers."""
    try:
        values = [float(v) for v in text.split()]
    except ValueError:
        raise DatasetError(
            f"{where}: points must be numbers 'x1 y1 x2 y2 ...' separated by spaces, got {text!r:.80}"
        ) from None
    if len(values) % 2 or len(values) < 6 or not np.all(np.isfinite(values)):
        raise DatasetError(
            f"{where}: points need an even count of at least 6 finite numbers (3 x,y pairs), got {len(values)}"
        )
    return values[0::2], values[1::2]


def _read_rows(csv_path):
    """[(line number, filename, class, xs, ys)] of a polygon CSV."""
    try:
        f = open(csv_path, newline="", encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{csv_path}: file not found") from None
    rows = []
    with f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header != HEADER:
            raise DatasetError(f"{csv_path}: line 1: header must be {','.join(HEADER)}, got {','.join(header)!r}")
        for row in reader:
            where = f"{csv_path}: line {reader.line_num}"
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != 3:
                raise DatasetError(
                    f"{where}: expected 3 fields (filename,class,points), got {len(row)}; "
                    f"quote the points if they contain commas"
                )
            filename, name, points = (cell.strip() for cell in row)
            if not filename or not name:
                raise DatasetError(f"{where}: filename and class must not be empty")
            rows.append((reader.line_num, filename, name, *parse_points(points, where)))
    return rows


class CsvPolygonDataset(PolygonDataset):
    """Polygons listed in a CSV file; see the module docstring for the layout."""

    def load_csv(self, csv_path, image_dir, source="csv", class_names=None):
        """Add the images and polygons of ``csv_path``; images are looked up in ``image_dir``.

        class_names: optional fixed class order; a row naming another class raises DatasetError.
        """
        csv_path = str(csv_path)
        rows = _read_rows(csv_path)
        for line, _, name, _, _ in rows:
            if class_names is not None and name not in class_names:
                raise DatasetError(f"{csv_path}: line {line}: class {name!r} is not in class_names {list(class_names)}")
        ids = self.add_class_names(source, class_names or sorted({r[2] for r in rows}))
        images = {}
        for line, filename, name, xs, ys in rows:
            if filename not in images:
                path = os.path.join(str(image_dir), filename)
                height, width = image_size(path, f"{csv_path}: line {line}")
                images[filename] = dict(path=path, width=width, height=height, polygons=[], polygon_class_ids=[])
            images[filename]["polygons"].append({"name": "polygon", "all_points_x": xs, "all_points_y": ys})
            images[filename]["polygon_class_ids"].append(ids[name])
        for filename, info in images.items():
            self.add_image(source, image_id=filename, **info)
