"""Dataset loaders, each a ``mrcnn.utils.Dataset`` subclass: VIA json, COCO json, polygon CSV, synthetic shapes."""

from mrcnn.datasets.coco import CocoDataset
from mrcnn.datasets.csv_polygons import CsvPolygonDataset
from mrcnn.datasets.shapes import ShapesDataset
from mrcnn.datasets.via import PolygonDataset, ViaDataset

__all__ = ["CocoDataset", "CsvPolygonDataset", "PolygonDataset", "ShapesDataset", "ViaDataset"]
