"""Dataset loaders, each a ``mrcnn.utils.Dataset`` subclass: VIA, COCO, LabelMe, YOLO-seg, mask PNGs, polygon CSV,
synthetic shapes. ``load_dataset`` detects the format of a path and returns the prepared Dataset."""

from mrcnn.datasets.auto import FORMATS, detect_format, load_dataset
from mrcnn.datasets.coco import CocoDataset
from mrcnn.datasets.csv_polygons import CsvPolygonDataset
from mrcnn.datasets.labelme import LabelMeDataset
from mrcnn.datasets.mask_png import MaskPngDataset
from mrcnn.datasets.shapes import ShapesDataset
from mrcnn.datasets.via import PolygonDataset, ViaDataset
from mrcnn.datasets.yolo_seg import YoloSegDataset

__all__ = [
    "FORMATS",
    "CocoDataset",
    "CsvPolygonDataset",
    "LabelMeDataset",
    "MaskPngDataset",
    "PolygonDataset",
    "ShapesDataset",
    "ViaDataset",
    "YoloSegDataset",
    "detect_format",
    "load_dataset",
]
