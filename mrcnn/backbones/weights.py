"""Find ImageNet weight files, locally first, then from keras.applications' release folder.

`weights="imagenet"` is resolved to the file name keras.applications uses, searched for in
`weights_search_dirs()`; if no folder has it, it is downloaded (as keras.applications would) into
~/.keras/models, with its md5 checked where keras.applications publishes one. MRCNN_OFFLINE=1 turns
downloads off. Loading by layer name is mrcnn.weights.h5's job.
"""

import os
import re
from pathlib import Path

import keras

WEIGHTS_DIR_ENV = "MRCNN_WEIGHTS_DIR"
# The repository sits at <root>/main and shared data at <root>/shared (this file: <root>/main/mrcnn/backbones/).
SHARED_WEIGHTS_DIR = Path(__file__).resolve().parents[3] / "shared" / "weights"
KERAS_CACHE_DIR = Path.home() / ".keras" / "models"
OFFLINE_ENV = "MRCNN_OFFLINE"


def downloads_off():
    """True when MRCNN_OFFLINE=1: look for weights files locally only, never download."""
    return os.environ.get(OFFLINE_ENV) == "1"


APPLICATIONS_URL = "https://storage.googleapis.com/tensorflow/keras-applications/"
# keras.applications' folder for each ImageNet file name, and the md5 it publishes (None: it publishes none).
RELEASE_FOLDERS = (
    (r"mobilenet_v2_weights_.*", "mobilenet_v2/"),
    (r"mobilenet_[0-9_]+_224_tf_no_top\.h5", "mobilenet/"),
    (r"resnet(50|101|152)_weights_.*", "resnet/"),
)
FILE_MD5 = {
    "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5": "4d473c1dd8becc155b73f8504c6f6626",
    "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5": "88cf7a10940856eca736dc7b7e228a21",
    "resnet152_weights_tf_dim_ordering_tf_kernels_notop.h5": "ee4c566cf9a93f14d82f913c2dc6dd0c",
}


def weights_search_dirs():
    """Folders searched for ImageNet files, in order: $MRCNN_WEIGHTS_DIR, shared/weights, ~/.keras/models."""
    env_dir = os.environ.get(WEIGHTS_DIR_ENV)
    return ([Path(env_dir)] if env_dir else []) + [SHARED_WEIGHTS_DIR, KERAS_CACHE_DIR]


def release_url(file_name):
    """keras.applications' download URL of an ImageNet file, or None if it is not one of theirs."""
    for pattern, folder in RELEASE_FOLDERS:
        if re.fullmatch(pattern, file_name):
            return APPLICATIONS_URL + folder + file_name
    return None


def find_weights_file(file_name):
    """Path of `file_name` in the first search folder that has it, else downloaded into ~/.keras/models.

    Raises FileNotFoundError saying where it looked, what could not be fetched from where, and how to fix it.
    """
    dirs = weights_search_dirs()
    for folder in dirs:
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    searched = "\n".join(f"  {folder}" for folder in dirs)
    url = release_url(file_name)
    if url and not downloads_off():
        try:
            return download(file_name, url)
        except Exception as error:  # get_file raises several types (URLError, HTTPError, ValueError on the hash)
            fetched = f"Could not download it from {url} ({type(error).__name__}: {error})."
    else:
        fetched = f"Downloads are off ({OFFLINE_ENV}=1)." if url else "keras.applications has no such file."
    raise FileNotFoundError(
        f"ImageNet weights file {file_name!r} not found. {fetched} Searched:\n{searched}\n"
        f"Fix: put {file_name} in one of these folders or set {WEIGHTS_DIR_ENV} to the folder holding it, "
        "pass weights=<path to the .h5 file>, or use weights=None for random initialisation."
    )


def download(file_name, url):
    """Fetch `url` into KERAS_CACHE_DIR/file_name (md5-checked when known) with Keras' progress bar.

    A failed or corrupt download leaves no file behind, so the next search does not find half a file.
    """
    target = KERAS_CACHE_DIR / file_name
    try:
        path = keras.utils.get_file(
            file_name,
            url,
            cache_dir=str(KERAS_CACHE_DIR.parent),
            cache_subdir=KERAS_CACHE_DIR.name,
            file_hash=FILE_MD5.get(file_name),
            hash_algorithm="md5",
        )
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Path(path)


def resolve_weights(weights, imagenet_file, owner="this backbone"):
    """Path to load (str) or None.

    weights: None (random), "imagenet" (resolved via `find_weights_file(imagenet_file)`) or a file path.
    imagenet_file: the keras.applications file name for this backbone and options, or None if there is none.
    owner: names the backbone and options in error messages.
    """
    if weights is None:
        return None
    if isinstance(weights, str) and weights == "imagenet":
        if imagenet_file is None:
            raise ValueError(
                f"No ImageNet weights exist for {owner} (see keras.applications for the values "
                "it has weights for); use weights=None or pass a path to an .h5 file"
            )
        return str(find_weights_file(imagenet_file))
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights must be None, 'imagenet' or a path to an .h5 file, got {type(weights).__name__}")
    if not Path(weights).is_file():
        raise FileNotFoundError(f"Weights file {str(weights)!r} for {owner} does not exist")
    return str(weights)
