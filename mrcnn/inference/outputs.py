"""What `predict`, `splash` and a training run write for a detected image: overlay, splash, JSON, COCO results.

Every writer takes the image, the detect() result and the target path, and writes atomically (no half-written file).
"""

import json
from pathlib import Path

import numpy as np

from mrcnn.engine.atomic import atomic_path

FORMATS = ("overlay", "splash", "json", "coco")  # what `mrcnn predict --format` writes


def class_names_of(model):
    """The model's class names, or "1", "2", ... when the weights carried none."""
    return model.class_names or ["BG"] + [str(i) for i in range(1, model.config.NUM_CLASSES)]


def write_overlay(model, image, result, path):
    """Masks, boxes and labels drawn over the image (PNG or JPEG by the extension)."""
    from mrcnn import visualize

    drawn = visualize.draw_instances(
        image, result["rois"], result["masks"], result["class_ids"], class_names_of(model), result["scores"]
    )
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    visualize.save_image(drawn, str(path))
    return path


def write_splash(image, result, path):
    """matterport's colour splash: colour inside the masks, gray elsewhere."""
    from mrcnn import visualize

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    visualize.save_image(visualize.color_splash(image, result["masks"]), str(path))
    return path


def instances_json(model, image_path, result):
    """One image's detections as plain JSON: size, and per instance class, score, box and RLE mask."""
    from mrcnn.data.rle import encode_rle

    names = class_names_of(model)
    masks = np.asarray(result["masks"], dtype=bool)
    rles = encode_rle(masks)
    instances = [
        {
            "class_id": int(class_id),
            "class_name": names[int(class_id)],
            "score": round(float(score), 4),
            "box_yxyx": [int(v) for v in box],
            "mask_rle": rles[i],
        }
        for i, (class_id, score, box) in enumerate(zip(result["class_ids"], result["scores"], result["rois"]))
    ]
    return {"image": str(image_path), "height": int(masks.shape[0]), "width": int(masks.shape[1]),
            "instances": instances}  # fmt: skip


def write_json(data, path):
    with atomic_path(path) as temp:
        Path(temp).write_text(json.dumps(data, indent=1))
    return path
