"""Find ImageNet weight files offline (loading by layer name is mrcnn.weights.h5's job).

Nothing here downloads. `weights="imagenet"` is resolved to the file name keras.applications
would download, searched for in `weights_search_dirs()`.
"""

import os
from pathlib import Path

WEIGHTS_DIR_ENV = "MRCNN_WEIGHTS_DIR"
# The repository sits at <root>/main and shared data at <root>/shared (this file: <root>/main/mrcnn/backbones/).
SHARED_WEIGHTS_DIR = Path(__file__).resolve().parents[3] / "shared" / "weights"
KERAS_CACHE_DIR = Path.home() / ".keras" / "models"


def weights_search_dirs():
    """Folders searched for ImageNet files, in order: $MRCNN_WEIGHTS_DIR, shared/weights, ~/.keras/models."""
    env_dir = os.environ.get(WEIGHTS_DIR_ENV)
    return ([Path(env_dir)] if env_dir else []) + [SHARED_WEIGHTS_DIR, KERAS_CACHE_DIR]


def find_weights_file(file_name):
    """Path of `file_name` in the first search folder that has it; FileNotFoundError saying how to fix."""
    dirs = weights_search_dirs()
    for folder in dirs:
        candidate = folder / file_name
        if candidate.is_file():
            return candidate
    searched = "\n".join(f"  {folder}" for folder in dirs)
    raise FileNotFoundError(
        f"ImageNet weights file {file_name!r} not found (nothing is downloaded). Searched:\n{searched}\n"
        f"Fix: put {file_name} in one of these folders or set {WEIGHTS_DIR_ENV} to the folder holding it, "
        "pass weights=<path to the .h5 file>, or use weights=None for random initialisation."
    )


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
