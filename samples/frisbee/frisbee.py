"""Mask R-CNN on COCO instances (by default the shared 14-image "frisbee" subset): train, evaluate, splash.

    python samples/frisbee/frisbee.py train --weights imagenet
    python samples/frisbee/frisbee.py evaluate --weights last --subset val
    python samples/frisbee/frisbee.py splash --weights last --image photo.jpg

Any COCO instances json works; for a full COCO 2017 download and other categories:

    python samples/frisbee/frisbee.py train --dataset /data/coco --weights imagenet \\
        --annotations annotations/instances_{subset}2017.json --images {subset}2017 --categories frisbee,kite

`{subset}` in --annotations and --images becomes train or val; relative paths are taken from --dataset.
NUM_CLASSES is 1 + the number of --categories, so pass the same --categories to every command.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from mrcnn.cli import sample as sample_cli  # noqa: E402
from mrcnn.config import MobileFineTuneConfig  # noqa: E402
from mrcnn.datasets import CocoDataset  # noqa: E402
from mrcnn.utils import DatasetError  # noqa: E402


class FrisbeeConfig(MobileFineTuneConfig):
    """MobileFineTuneConfig (slim MobileNet v1 alpha 0.75, 512 px); NUM_CLASSES is set from --categories."""

    NAME = "frisbee"
    NUM_CLASSES = 1 + 1
    STEPS_PER_EPOCH = 5  # 10 training images: one pass per epoch
    VALIDATION_STEPS = 2
    # COCO frisbees span ~5 to ~290 px at 512 px: the inherited anchors (16..256 px, three sizes
    # per level) cover them.


def parse_categories(text):
    """Split "frisbee,34,kite" into ["frisbee", 34, "kite"]: digits become COCO ids; repeats are dropped."""
    categories = []
    for item in (part.strip() for part in str(text).split(",")):
        value = int(item) if item.isdigit() else item
        if item and value not in categories:
            categories.append(value)
    if not categories:
        raise sample_cli.CommandError(f"--categories {text!r}: give comma-separated category names or ids")
    return categories


def config_overrides(args):
    """Config attributes that follow the flags: one class per category plus the background."""
    return {"NUM_CLASSES": 1 + len(parse_categories(args.categories))}


def subset_path(dataset_dir, template, subset):
    """`template` with "{subset}" replaced, relative to `dataset_dir` unless absolute."""
    return os.path.join(dataset_dir, template.replace("{subset}", subset))


def load_frisbee(dataset_dir, subset, args):
    """The `subset` split of a COCO instances file as a prepared dataset.

    Training (train and its validation split) keeps only images with a kept annotation;
    evaluate and splash keep every image of the split.
    """
    annotations = subset_path(dataset_dir, args.annotations, subset)
    categories = parse_categories(args.categories)
    dataset = CocoDataset()
    dataset.load_coco(
        annotations,
        subset_path(dataset_dir, args.images, subset),
        categories=categories,
        skip_empty=args.command == "train",
        source="coco",
    )
    dataset.prepare()
    if dataset.num_classes != 1 + len(categories):
        raise DatasetError(
            f"--categories {args.categories}: a name and an id refer to the same category "
            f"in {annotations}; list each category once"
        )
    if not dataset.num_images:
        raise DatasetError(f"{annotations}: no image has an annotation of {args.categories}")
    return dataset


def add_arguments(parser):
    parser.add_argument(
        "--annotations",
        default="annotations/instances_{subset}.json",
        help="COCO instances json, relative to --dataset; {subset} becomes train/val (default: %(default)s)",
    )
    parser.add_argument(
        "--images",
        default="{subset}",
        help="image folder, relative to --dataset; {subset} becomes train/val (default: %(default)s)",
    )
    parser.add_argument(
        "--categories",
        default="frisbee",
        help="comma-separated COCO category names or ids to learn (default: %(default)s)",
    )


TASK = sample_cli.Task(
    name="frisbee",
    config_class=FrisbeeConfig,
    load=load_frisbee,
    default_dataset=str(sample_cli.repo_shared_dir() / "datasets" / "frisbee"),
    extra_arguments=add_arguments,
    config_overrides=config_overrides,
)

if __name__ == "__main__":
    sample_cli.run(TASK)
