"""`mrcnn train` and `mrcnn evaluate` on a dataset in any format `mrcnn.datasets.load_dataset` reads.

train: the classes come from the data (NUM_CLASSES is set from them), one epoch is one pass over the training
images, and without --val a seeded 15% of the training images (at least one per class) is held out as val and
listed in DIR/split.json. best.h5 is picked on val, so its val score is optimistic: --test names a split that no
choice sees, and best.h5 is scored on it once, at the end. The config is `SmallDatasetConfig` (the balloon recipe:
MobileNet v1 alpha 0.75 from ImageNet, 90 epochs, the first 30% at 512 px and the rest at 1024) with the
command-line overrides. A malformed annotation stops the command before the first step unless --skip-bad drops it
(the dropped ones are listed). A run that stops before its first checkpoint removes the folder it made.
"""

import math
import shutil
from pathlib import Path

from mrcnn.cli.common import CommandError, writable_folder
from mrcnn.engine.atomic import write_json

NAME = "mrcnn"
EPOCHS = 90
SIZES = (512, 1024)
HOLDOUT = 0.15


def load_split(path, args, class_names=None):
    """A prepared dataset from `path`; the annotations dropped by --skip-bad are printed."""
    from mrcnn.datasets import load_dataset

    dataset = load_dataset(path, format=args.format, images=args.images, class_names=class_names,
                           skip_bad=args.skip_bad)  # fmt: skip
    for file, index, message in getattr(dataset, "problems", []):
        print(f"skipped: {file}" + (f" [{index}]" if index is not None else "") + f": {message}")
    if not len(dataset.image_ids):
        raise CommandError(f"{path}: no images to use")
    return dataset


def _splits(args):
    """(train, val, how val was made); each must hold an instance (nothing to learn, or AP undefined, without one)."""
    from mrcnn.datasets.split import holdout

    train = load_split(args.data, args)
    _require_instances(train, args.data, "annotate some of its images", "there is nothing to learn")
    if args.val:
        val = load_split(args.val, args, class_names=train.class_names[1:])
        _require_instances(val, f"--val {args.val}", "annotate some of its images")
        return train, val, f"{args.val}"
    try:
        train, val = holdout(train, HOLDOUT, seed=0)
    except ValueError as err:
        raise CommandError(f"{args.data}: {err}") from None
    _require_instances(val, f"{args.data}: the hold-out val split", "pass --val with annotated images")
    _require_instances(train, f"{args.data}: the training split left by the hold-out", "pass --val, or annotate "
                       "more images", "there is nothing to learn")  # fmt: skip
    return train, val, f"a seeded {HOLDOUT:.0%} hold-out of {args.data} (seed 0)"


def _require_instances(dataset, what, fix, why="val AP cannot be computed"):
    """CommandError unless some image of `dataset` has an instance (stops at the first that has one)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # annotations dropped while looking are reported by inspect and training
        if any(len(dataset.load_mask(i)[1]) for i in dataset.image_ids):
            return
    raise CommandError(f"{what}: none of its {len(dataset.image_ids)} images has an instance, so {why}; {fix}")


def train_config(args, train_set, val_set):
    """SmallDatasetConfig for these classes and split sizes, with --backbone, --image-size and --set."""
    from mrcnn.config import SmallDatasetConfig

    overrides = {"NAME": NAME, "NUM_CLASSES": train_set.num_classes}
    if args.backbone:
        overrides["BACKBONE"] = args.backbone
    if args.image_size:
        overrides.update(IMAGE_MIN_DIM=args.image_size, IMAGE_MAX_DIM=args.image_size)
    overrides.update(args.set or [])
    batch = SmallDatasetConfig(**overrides).BATCH_SIZE
    steps = {"STEPS_PER_EPOCH": math.ceil(len(train_set.image_ids) / batch),
             "VALIDATION_STEPS": math.ceil(len(val_set.image_ids) / batch)}  # fmt: skip
    return SmallDatasetConfig(**{**steps, **overrides})


def run_train(args):
    out = writable_folder(args.out, "--out")  # before the data and the model are read
    train_set, val_set, val_source = _splits(args)  # and the data before TensorFlow is imported
    from mrcnn.engine import recipe
    from mrcnn.model import find_last_checkpoint

    print(f"train: {len(train_set.image_ids)} images; val: {len(val_set.image_ids)} images from {val_source}; "
          f"classes: {', '.join(train_set.class_names[1:])}")  # fmt: skip
    test_set = _test_split(args, train_set, val_set)
    config = train_config(args, train_set, val_set)
    config.display()
    weights = args.weights
    if weights == "last":
        weights = find_last_checkpoint(out, NAME)
    elif weights not in ("imagenet", "none") and not Path(weights).is_file():
        raise CommandError(f"--weights {weights}: no such file (use 'imagenet', 'last', 'none' or a .h5 path)")
    sizes = [args.image_size] if args.image_size else args.sizes or SIZES
    stages = recipe.default_schedule(args.epochs or EPOCHS, args.lr or config.LEARNING_RATE, sizes, args.layers)
    new_folder = not out.exists()
    try:
        split = {"val_source": val_source, "train": _refs(train_set), "val": _refs(val_set)}
        write_json(out / "split.json", {**split, **({"test": _refs(test_set)} if test_set else {})})
        return recipe.run_training(config, train_set, val_set, out, None if weights == "none" else weights, stages,
                                   eval_every=args.eval_every, patience=args.patience, test_set=test_set)  # fmt: skip
    except BaseException:
        if new_folder and not any(out.rglob("*.h5")):  # stopped before its first checkpoint: nothing to resume
            shutil.rmtree(out, ignore_errors=True)
        raise


def _test_split(args, train_set, val_set):
    """The --test split (None without it); images it shares with train or val are reported."""
    if not args.test:
        return None
    test_set = load_split(args.test, args, class_names=train_set.class_names[1:])
    _require_instances(test_set, f"--test {args.test}", "annotate some of its images")
    shared = set(_refs(test_set)) & set(_refs(train_set) + _refs(val_set))
    print(f"test: {len(test_set.image_ids)} images from {args.test}"
          + (f"; warning: {len(shared)} of them are also in train or val, so its score is not unbiased" if shared
             else ""))  # fmt: skip
    return test_set


def _refs(dataset):
    return [str(dataset.image_info[i]["path"]) for i in dataset.image_ids]


def inference_model(weights, min_confidence=None, image_size=None, precision=None):
    """An inference model from a weights file saved by mrcnn (its stored config), with these overrides
    (precision None: "auto", as served)."""
    import tempfile

    if not Path(weights).is_file():  # before TensorFlow is imported
        raise CommandError(f"{weights}: no such weights file")
    from mrcnn.model import MaskRCNN

    overrides = {} if min_confidence is None else {"DETECTION_MIN_CONFIDENCE": min_confidence}
    if image_size:
        overrides.update(IMAGE_MIN_DIM=image_size, IMAGE_MAX_DIM=image_size)
    if precision:
        overrides["PRECISION"] = precision
    return MaskRCNN.from_weights(weights, tempfile.gettempdir(), **overrides)


def _matching_data(args, model):
    """The dataset with the model's class ids: loaded with the model's class names. A one-class model scores a
    one-class dataset whatever the class is called (VIA files often name none)."""
    names = list(model.class_names[1:]) if model.class_names else None
    dataset = load_split(args.data, args)
    if names is None or set(dataset.class_names[1:]) <= set(names):
        return load_split(args.data, args, class_names=names) if names else dataset
    if len(names) == 1 and dataset.num_classes == 2:
        print(f"note: the data's one class {dataset.class_names[1]!r} is scored as the model's {names[0]!r}")
        return dataset
    raise CommandError(f"{args.data}: classes {dataset.class_names[1:]} are not the model's {names}")


def run_evaluate(args):
    """COCO mask and box AP (overall, per class) and compute_ap mAP50 of WEIGHTS on DATA (printed; with --out also
    written to DIR/eval.json and DIR/eval.md)."""
    from mrcnn.engine.atomic import atomic_path
    from mrcnn.evaluation.coco import evaluate_coco, format_table, save_results

    out = writable_folder(args.out, "--out") if args.out else None
    model = inference_model(args.weights, args.min_confidence, args.image_size, args.precision)
    dataset = _matching_data(args, model)
    results = evaluate_coco(model, dataset)
    table = format_table(results)
    print(table)
    if out is None:
        return results
    save_results(results, out / "eval.json")
    with atomic_path(out / "eval.md") as temp:
        Path(temp).write_text(f"# {args.weights} on {args.data} ({len(dataset.image_ids)} images)\n\n{table}\n")
    print(f"Wrote {out / 'eval.json'} and {out / 'eval.md'}")
    return results
