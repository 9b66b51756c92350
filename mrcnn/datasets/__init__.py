"""Dataset loaders, each a ``mrcnn.utils.Dataset`` subclass: VIA json, COCO json, polygon CSV, synthetic shapes;
``load_dataset`` detects the format of a path and returns the prepared Dataset."""

from mrcnn.datasets.auto import FORMATS, detect_format, load_dataset
from mrcnn.datasets.coco import CocoDataset
from mrcnn.datasets.csv_polygons import CsvPolygonDataset
from mrcnn.datasets.shapes import ShapesDataset
from mrcnn.datasets.via import PolygonDataset, ViaDataset

__all__ = [
    "FORMATS",
    "CocoDataset",
    "CsvPolygonDataset",
    "PolygonDataset",
    "ShapesDataset",
    "ViaDataset",
    "detect_format",
    "load_dataset",
]
