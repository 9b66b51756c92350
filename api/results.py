"""Turn a detect() result into the /predict response: instances, mask coverage, overlay PNG."""

import base64
import io

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils


def filter_by_score(result, threshold):
    """Keep instances with score >= threshold (None keeps all). Masks: [H, W, N] -> [H, W, K]."""
    if threshold is None:
        return result
    keep = result["scores"] >= threshold
    return {
        "rois": result["rois"][keep],
        "class_ids": result["class_ids"][keep],
        "scores": result["scores"][keep],
        "masks": result["masks"][:, :, keep],
    }


def encode_rle(masks):
    """masks: bool [H, W, N] -> N COCO RLE dicts {"size": [H, W], "counts": str}."""
    if masks.shape[2] == 0:
        return []
    encoded = mask_utils.encode(np.asfortranarray(masks.astype(np.uint8)))
    return [{"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in encoded]


def instances_json(result, class_names):
    """One dict per instance: class_id, class_name, score, box {x1, y1, x2, y2} (pixels, x2/y2
    exclusive), mask (COCO RLE), area (mask pixels)."""
    instances = []
    areas = result["masks"].sum(axis=(0, 1))
    for i, rle in enumerate(encode_rle(result["masks"])):
        y1, x1, y2, x2 = (int(v) for v in result["rois"][i])
        class_id = int(result["class_ids"][i])
        name = class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)
        instances.append(
            {
                "class_id": class_id,
                "class_name": name,
                "score": round(float(result["scores"][i]), 4),
                "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
                "mask": rle,
                "area": int(areas[i]),
            }
        )
    return instances


def coverage(masks):
    """masks: bool [H, W, N] -> pixels covered by the union of all masks, and percentages."""
    height, width = masks.shape[:2]
    total = height * width
    masked = int(masks.any(axis=2).sum()) if masks.shape[2] else 0
    return {
        "masked_pixels": masked,
        "total_pixels": total,
        "masked_percent": round(100.0 * masked / total, 4),
        "unmasked_percent": round(100.0 * (total - masked) / total, 4),
    }


def overlay_png(image, result, class_names):
    """PNG bytes of the masks, boxes and labels drawn on image: [H, W, 3] uint8."""
    if result["masks"].shape[2]:
        from mrcnn import visualize  # drawing helpers; no TensorFlow

        drawn = visualize.draw_instances(
            image, result["rois"], result["masks"], result["class_ids"], class_names, scores=result["scores"]
        )
    else:
        drawn = image
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(drawn, dtype=np.uint8)).save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def build_response(image, result, class_names, inference_ms):
    """(JSON-ready dict, overlay PNG bytes) for one image and its (filtered) detect() result."""
    png = overlay_png(image, result, class_names)
    body = {
        "instances": instances_json(result, class_names),
        **coverage(result["masks"]),
        "image_size": {"width": int(image.shape[1]), "height": int(image.shape[0])},
        "inference_ms": round(float(inference_ms), 1),
    }
    return body, png


def png_base64(png):
    return base64.b64encode(png).decode("ascii")
