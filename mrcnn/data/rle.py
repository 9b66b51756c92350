"""The one COCO RLE encoder (pycocotools), shared by the COCO evaluation and the API."""

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(masks):
    """masks: bool [H, W, N] -> N COCO RLE dicts {"size": [H, W], "counts": str} (json-safe)."""
    masks = np.asarray(masks, dtype=bool)
    # One instance at a time: a single H x W uint8 plane is copied at once, not N of them.
    planes = (np.asfortranarray(masks[:, :, i : i + 1].view(np.uint8)) for i in range(masks.shape[2]))
    encoded = (mask_utils.encode(plane)[0] for plane in planes)
    return [{"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")} for rle in encoded]
