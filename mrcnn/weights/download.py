"""matterport's COCO weights file: found locally first, else fetched from matterport's release."""

import os
import shutil
import urllib.request
from pathlib import Path

from mrcnn.backbones.weights import OFFLINE_ENV, downloads_off, weights_search_dirs

COCO_MODEL_URL = "https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5"
COCO_FILE = "mask_rcnn_coco.h5"


def _fetch(url, path):
    with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
        shutil.copyfileobj(response, out)


def download_trained_weights(coco_model_path, verbose=1):
    """Make coco_model_path hold matterport's mask_rcnn_coco.h5: copied from a weights folder, else downloaded
    (not tried when MRCNN_OFFLINE=1).

    Raises FileNotFoundError (one line) naming the URL, the error and where to put the file by hand.
    """
    target = Path(coco_model_path)
    if target.is_file():
        return str(target)
    local = next((d / COCO_FILE for d in weights_search_dirs() if (d / COCO_FILE).is_file()), None)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        if local is not None:
            shutil.copyfile(local, partial)
        elif downloads_off():
            raise ConnectionError(f"downloads are off ({OFFLINE_ENV}=1)")
        else:
            if verbose:
                print(f"Downloading pretrained model to {target} ...")
            _fetch(COCO_MODEL_URL, partial)
        os.replace(partial, target)
    except Exception as error:
        partial.unlink(missing_ok=True)
        raise FileNotFoundError(
            f"Could not fetch {COCO_FILE} from {COCO_MODEL_URL} ({type(error).__name__}: {error}); "
            f"download it by hand to {target}"
        ) from error
    if verbose:
        print(f"... done: {target}")
    return str(target)
