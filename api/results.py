"""Turn a detect() result into the /predict response: instances, mask coverage, overlay PNG."""

import base64
import io
import math

import numpy as np
from PIL import Image

from mrcnn.data.rle import encode_rle

OVERLAY_MAX_PIXELS = 4_000_000  # the overlay is drawn at most this large (2448 x 1634 for 3:2)
JPEG_QUALITY = 85  # of the overlay when asked for as JPEG


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


def encode_polygons(masks, rois, tolerance=1.0):
    """masks: bool [H, W, N], rois [N, (y1, x1, y2, x2)] -> per instance, the outer contour of each
    of its parts as [[x, y], ...] in pixel-edge coordinates, simplified to within `tolerance` px."""
    from scipy.ndimage import binary_fill_holes
    from skimage.measure import approximate_polygon, find_contours

    height, width = masks.shape[:2]
    polygons = []
    for i, (y1, x1, y2, x2) in enumerate(np.asarray(rois).reshape(-1, 4)):
        y1, x1, y2, x2 = max(y1, 0), max(x1, 0), min(y2, height), min(x2, width)
        crop = np.pad(binary_fill_holes(masks[y1:y2, x1:x2, i]), 1).astype(np.float32)
        outlines = [approximate_polygon(c, tolerance)[:-1] for c in find_contours(crop, 0.5)]
        offset = np.array([x1 - 0.5, y1 - 0.5])  # crop index -> pixel-edge coordinate (pad of 1)
        polygons.append([np.round(c[:, ::-1] + offset, 1).tolist() for c in outlines if len(c) >= 3])
    return polygons


MASK_FORMATS = ("rle", "polygon", "none")


def instances_json(result, class_names, mask_format="rle"):
    """One dict per instance: class_id, class_name, score, box {x1, y1, x2, y2} (pixels, x2/y2
    exclusive), area (mask pixels) and, by mask_format, mask (COCO RLE), polygons or nothing."""
    instances = []
    masks = result["masks"]
    areas = masks.sum(axis=(0, 1))
    if mask_format == "rle":
        shapes = [{"mask": rle} for rle in encode_rle(masks)]
    elif mask_format == "polygon":
        shapes = [{"polygons": p} for p in encode_polygons(masks, result["rois"])]
    else:
        shapes = [{} for _ in range(masks.shape[2])]
    for i, shape in enumerate(shapes):
        y1, x1, y2, x2 = (int(v) for v in result["rois"][i])
        class_id = int(result["class_ids"][i])
        name = class_names[class_id] if 0 <= class_id < len(class_names) else str(class_id)
        instances.append(
            {
                "class_id": class_id,
                "class_name": name,
                "score": round(float(result["scores"][i]), 4),
                "box": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
                **shape,
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


def overlay_image(image, result, class_names, fmt="png", max_pixels=OVERLAY_MAX_PIXELS):
    """PNG or JPEG (quality JPEG_QUALITY) bytes of the masks, boxes and labels drawn on image:
    [H, W, 3] uint8, scaled down (nearest pixel) to at most `max_pixels` pixels. Memory:
    O(max_pixels), whatever the count."""
    rows, cols, scale = _overlay_grid(image.shape[:2], max_pixels)
    drawn = image[np.ix_(rows, cols)]
    count = result["masks"].shape[2]
    if count:
        from mrcnn import visualize  # drawing helpers; no TensorFlow

        colors = visualize.random_colors(count)
        _blend_first(drawn, result["masks"], rows, cols, colors)
        boxes = np.rint(result["rois"] * scale).astype(np.int32)
        drawn = visualize.draw_instances(
            drawn, boxes, None, result["class_ids"], class_names, scores=result["scores"], colors=colors
        )
    buffer = io.BytesIO()
    options = {"format": "JPEG", "quality": JPEG_QUALITY} if fmt == "jpeg" else {"format": "PNG", "compress_level": 3}
    Image.fromarray(np.asarray(drawn, dtype=np.uint8)).save(buffer, **options)
    return buffer.getvalue()


def _overlay_grid(shape, max_pixels):
    """Row and column indices of the overlay (every pixel when within max_pixels) and their scale."""
    height, width = shape
    scale = min(1.0, math.sqrt(max_pixels / (height * width)))
    rows = (np.arange(max(1, int(height * scale))) / scale).astype(np.intp)
    cols = (np.arange(max(1, int(width * scale))) / scale).astype(np.intp)
    return rows, cols, scale


def _blend_first(drawn, masks, rows, cols, colors):
    """Blend instance colours half-and-half into drawn (in place), one mask plane at a time; where
    masks overlap the first (highest-scoring) instance gives the colour, as in mrcnn.visualize."""
    first = np.full(drawn.shape[:2], -1, np.int16)
    for i in reversed(range(masks.shape[2])):
        first[masks[:, :, i][np.ix_(rows, cols)]] = i
    covered = first >= 0
    palette = np.rint(np.asarray(colors, dtype=np.float32)[:, :3] * 255).astype(np.uint16)
    drawn[covered] = (drawn[covered] + palette[first[covered]] + 1) // 2


def build_response(image, result, class_names, inference_ms, mask_format="rle", overlay="png"):
    """(JSON-ready dict, overlay bytes or None) for one image and its (filtered) detect() result.
    overlay: "png", "jpeg" or "none"; mask_format: one of MASK_FORMATS."""
    drawn = None if overlay == "none" else overlay_image(image, result, class_names, overlay)
    body = {
        "instances": instances_json(result, class_names, mask_format),
        **coverage(result["masks"]),
        "image_size": {"width": int(image.shape[1]), "height": int(image.shape[0])},
        "inference_ms": round(float(inference_ms), 1),
    }
    return body, drawn


def as_base64(data):
    return base64.b64encode(data).decode("ascii")
