"""COCO evaluation (pycocotools) of a model on a Dataset; the code lives in mrcnn.evaluation.coco.

Kept at this path because the README and users import `mrcnn.evaluate.evaluate_coco`.
"""

from mrcnn.evaluation.coco import (
    IOU_TYPES,
    STAT_NAMES,
    build_coco_gt,
    coco_stats,
    detections_to_coco,
    evaluate_coco,
    format_table,
    gt_annotations,
    save_results,
)

__all__ = [
    "IOU_TYPES",
    "STAT_NAMES",
    "build_coco_gt",
    "coco_stats",
    "detections_to_coco",
    "evaluate_coco",
    "format_table",
    "gt_annotations",
    "save_results",
]
