"""Mask R-CNN on the balloon dataset (VIA polygons): train, evaluate, splash.

    python samples/balloon/balloon.py train --weights imagenet
    python samples/balloon/balloon.py evaluate --weights last
    python samples/balloon/balloon.py splash --weights api/weights/balloon_mobilenet.h5 --image photo.jpg

Run with --help on any command for its flags. The dataset folder holds train/ and val/, each
with its images and VIA's via_region_data.json.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from mrcnn.cli import sample as sample_cli  # noqa: E402
from mrcnn.config import SmallDatasetConfig  # noqa: E402
from mrcnn.datasets import ViaDataset  # noqa: E402
from mrcnn.visualize import color_splash  # noqa: E402, F401  (matterport's balloon.color_splash)


class BalloonConfig(SmallDatasetConfig):
    """SmallDatasetConfig (MobileNet v1 alpha 0.75, wider heads, scale jitter, copy-paste) for one class, at 1024 px.

    This config describes the bundled model (api/weights/balloon_mobilenet.h5), so matterport's way of
    building a model, `BalloonConfig()` + `load_weights(path, by_name=True)`, computes what the README
    reports. The one-command recipe trains the first 30% of its epochs at 512 px and the rest at 1024:
    half the val balloons are under 30 px at 512 (see README.md).
    """

    NAME = "balloon"
    NUM_CLASSES = 1 + 1
    STEPS_PER_EPOCH = 30  # 61 training images: one pass per epoch
    VALIDATION_STEPS = 7


class InferenceConfig(BalloonConfig):
    """BalloonConfig for detect(): one image per batch (as matterport's balloon notebook defines it)."""

    GPU_COUNT = 1
    IMAGES_PER_GPU = 1


class BalloonDataset(ViaDataset):
    """matterport's balloon dataset class: `BalloonDataset()`, `load_balloon(dir, "train")`, `prepare()`."""

    def load_balloon(self, dataset_dir, subset):
        """Add the `subset` split ("train" or "val") of a balloon folder (its via_region_data.json)."""
        folder = os.path.join(dataset_dir, subset)
        self.load_via(
            os.path.join(folder, "via_region_data.json"),
            folder,
            source="balloon",
            default_class="balloon",
            class_names=["balloon"],
        )


def load_balloon(dataset_dir, subset, args=None):
    """The `subset` split ("train" or "val") of a balloon folder as a prepared dataset."""
    dataset = BalloonDataset()
    dataset.load_balloon(dataset_dir, subset)
    dataset.prepare()
    return dataset


TASK = sample_cli.Task(
    name="balloon",
    config_class=BalloonConfig,
    load=load_balloon,
    default_dataset=str(sample_cli.repo_shared_dir() / "datasets" / "balloon"),
    # The one-command recipe: 90 epochs, the first 30% at 512 px (heads first), the rest at 1024 (README.md).
    epochs=90,
    sizes=(512, 1024),
)

if __name__ == "__main__":
    sample_cli.run(TASK)
