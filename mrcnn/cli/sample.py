"""The command line shared by the samples: `train`, `evaluate` and `splash` for any dataset.

A sample supplies a `Task`: its Config class, a loader `load(dataset_dir, subset, args)` returning
a prepared `utils.Dataset`, and a default dataset folder; optionally its own flags
(`extra_arguments`) and Config values derived from them (`config_overrides`, e.g. NUM_CLASSES).
Everything else (weights resolution, training, COCO evaluation, splash output) lives here once.
"""

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mrcnn.cli.common import CommandError, parse_setting, parse_sizes, writable_folder
from mrcnn.engine.atomic import atomic_path

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass
class Task:
    name: str
    config_class: type
    load: callable  # (dataset_dir, subset, args) -> prepared utils.Dataset
    default_dataset: str = None
    extra_arguments: callable = field(default=None)  # (parser) -> None, sample-specific flags
    config_overrides: callable = field(default=None)  # (args) -> {Config attribute: value} from those flags
    epochs: int = 30  # the default schedule's length (--epochs)
    sizes: tuple = None  # progressive resizing of the default schedule (--sizes), e.g. (512, 1024)


def limit_dataset(dataset, count):
    """The first `count` images of a prepared dataset (for quick runs); all of them when count is falsy."""
    from mrcnn.datasets.split import subset

    return subset(dataset, range(min(count, dataset.num_images))) if count else dataset


def _config(task, args, inference=False, stored=None):
    """The task's Config with the command-line overrides; `stored` (a weights file's config) is the base."""
    overrides = dict(task.config_overrides(args)) if task.config_overrides else {}
    if args.backbone:
        overrides["BACKBONE"] = args.backbone
    if args.alpha is not None:
        overrides["BACKBONE_OPTIONS"] = {"alpha": args.alpha}
    if args.image_size:
        overrides.update(IMAGE_MIN_DIM=args.image_size, IMAGE_MAX_DIM=args.image_size)
    if getattr(args, "steps", None):
        overrides["STEPS_PER_EPOCH"] = args.steps
    overrides.update(args.set or [])
    if inference:
        overrides.update(GPU_COUNT=1, IMAGES_PER_GPU=1)
        if args.min_confidence is not None:
            overrides["DETECTION_MIN_CONFIDENCE"] = args.min_confidence
    if stored:
        return task.config_class.from_dict(stored, **overrides)
    return task.config_class(**overrides)


def resolve_weights(task, args):
    """What --weights names: the .h5 path ("last": the newest checkpoint under --logs), "imagenet"
    (resolved by load_weights for the model's backbone), or None for none."""
    from mrcnn.model import find_last_checkpoint

    if args.weights in (None, "none"):
        return None
    if args.weights == "imagenet":
        return "imagenet"
    if args.weights == "last":
        return find_last_checkpoint(args.logs, task.config_class.NAME)
    if not Path(args.weights).is_file():
        raise CommandError(f"--weights {args.weights}: no such file (use 'imagenet', 'last' or a .h5 path)")
    return args.weights


def cmd_train(task, args):
    """Train with the default schedule (or one --layers stage), keep best.h5 by val mask AP in --logs."""
    from mrcnn.engine import recipe

    writable_folder(args.logs, "--logs")  # before the datasets and the model are built
    args.weights = args.weights or "imagenet"
    config = _config(task, args)
    train_set = limit_dataset(task.load(args.dataset, "train", args), args.limit)
    val_set = limit_dataset(task.load(args.dataset, "val", args), args.limit)
    if args.limit:
        config.VALIDATION_STEPS = max(1, min(config.VALIDATION_STEPS, args.limit // config.BATCH_SIZE))
    config.display()
    sizes = [args.image_size] if args.image_size else args.sizes or task.sizes
    stages = recipe.default_schedule(args.epochs or task.epochs, args.lr or config.LEARNING_RATE, sizes, args.layers)
    return recipe.run_training(config, train_set, val_set, args.logs, resolve_weights(task, args), stages,
                               eval_every=args.eval_every, patience=args.patience)  # fmt: skip


def _inference_model(task, args):
    """An inference model built with the config stored in the weights file (so its architecture matches)."""
    from mrcnn import model as modellib
    from mrcnn.engine.recipe import load_start_weights
    from mrcnn.weights import h5 as weights_io

    path = resolve_weights(task, args)
    if path in (None, "imagenet"):
        raise CommandError("--weights is required for inference ('last' or a .h5 path)")
    stored = weights_io.read_metadata(path)["config"]
    model = modellib.MaskRCNN("inference", _config(task, args, inference=True, stored=stored), args.logs)
    load_start_weights(model, path)
    return model


def cmd_evaluate(task, args):
    from mrcnn.evaluation import coco as evaluate

    if args.out:
        writable_folder(Path(args.out).parent, "--out")
    model = _inference_model(task, args)
    dataset = limit_dataset(task.load(args.dataset, args.subset, args), args.limit)
    results = evaluate.evaluate_coco(model, dataset)
    table = evaluate.format_table(results)
    print(table)
    out = Path(args.out or Path(model.weights_path).with_suffix(f".{args.subset}_eval.json"))
    evaluate.save_results(results, out)
    with atomic_path(out.with_suffix(".md")) as temp:
        Path(temp).write_text(table)
    print(f"Saved {out} and {out.with_suffix('.md')}")
    return results


def _outputs(source, out_dir):
    source = Path(source)
    folder = Path(out_dir) if out_dir else source.parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{source.stem}_splash", folder / f"{source.stem}_overlay"


def splash_image(model, path, out_dir=None):
    """Write <stem>_splash.png (colour kept inside masks, gray elsewhere) and <stem>_overlay.png."""
    from mrcnn.data.images import read_image
    from mrcnn.inference.outputs import write_overlay, write_splash

    image = read_image(path)
    r = model.detect([image], verbose=0)[0]
    splash, overlay = _outputs(path, out_dir)
    write_splash(image, r, f"{splash}.png")
    write_overlay(model, image, r, f"{overlay}.png")
    print(f"{path}: {len(r['class_ids'])} instance(s) → {splash}.png, {overlay}.png")
    return r


def splash_video(model, path, out_dir=None):
    """Colour-splash every frame of a video into <stem>_splash.mp4 (needs imageio with ffmpeg)."""
    from mrcnn import visualize

    try:
        import imageio.v3 as iio
    except ImportError:
        raise CommandError("--video needs a video reader: pip install imageio[ffmpeg]") from None
    splash, _ = _outputs(path, out_dir)
    target = f"{splash}.mp4"
    meta = iio.immeta(path)
    frames = (visualize.color_splash(f, model.detect([f], verbose=0)[0]["masks"]) for f in iio.imiter(path))
    with atomic_path(target) as temp:
        iio.imwrite(temp, list(frames), fps=meta.get("fps", 25), extension=".mp4")
    print(f"{path} → {target}")


def cmd_splash(task, args):
    if not args.image and not args.video:
        raise CommandError("splash needs --image FILE or --video FILE")
    source = args.image or args.video
    if not Path(source).is_file():
        raise CommandError(f"{source}: no such file")
    writable_folder(args.out_dir or Path(source).parent, "--out-dir")
    model = _inference_model(task, args)
    if args.video:
        splash_video(model, args.video, args.out_dir)
    else:
        splash_image(model, args.image, args.out_dir)


def build_parser(task):
    parser = argparse.ArgumentParser(prog=f"{task.name}.py", description=f"Mask R-CNN on the {task.name} dataset.")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dataset", default=task.default_dataset, help="dataset folder (default: %(default)s)")
    common.add_argument(
        "--weights", default=None, help="'imagenet', 'last', 'none' or a path to an .h5 file (train default: imagenet)"
    )
    common.add_argument("--logs", default="logs", help="log and checkpoint folder (default: %(default)s)")
    common.add_argument("--backbone", default=None, help="override Config.BACKBONE (a registry name)")
    common.add_argument("--alpha", type=float, default=None, help="MobileNet width multiplier")
    common.add_argument("--image-size", type=int, default=None, help="square input size, a multiple of 64")
    common.add_argument("--limit", type=int, default=None, help="use only the first N images of each split")
    common.add_argument(
        "--set",
        type=parse_setting,
        action="append",
        metavar="KEY=VALUE",
        help="override a Config attribute, e.g. --set TRAIN_ROIS_PER_IMAGE=64 (repeatable; "
        "inference starts from the config stored in the weights file)",
    )
    if task.extra_arguments:
        task.extra_arguments(common)

    train = commands.add_parser("train", parents=[common], help="train on <dataset>/train, validate on val")
    train.add_argument("--epochs", type=int, default=None, help=f"length of the schedule (default: {task.epochs})")
    train.add_argument(
        "--sizes",
        type=parse_sizes,
        default=None,
        help="progressive resizing, e.g. 512,1024: the first 30%% of the epochs at the smaller sizes "
        f"(default: {','.join(map(str, task.sizes)) if task.sizes else 'the config size'}; --image-size: one size)",
    )
    train.add_argument("--eval-every", type=int, help="COCO AP on val every N epochs (default: epochs/10)")
    train.add_argument("--patience", type=int, default=None, help="stop after N evaluations without a better mask AP")
    train.add_argument(
        "--layers",
        default=None,
        help="train only these layers at a constant rate: heads, 3+, 4+, 5+, all, or a layer-name "
        "regex (default: heads for 20%% of the epochs, then all at lr/5, last 15%% at lr/50)",
    )
    train.add_argument("--lr", type=float, default=None, help="learning rate (default: the config's)")
    train.add_argument("--steps", type=int, default=None, help="steps per epoch (default: the config's)")

    evaluate = commands.add_parser("evaluate", parents=[common], help="COCO mask and box AP on a split")
    evaluate.add_argument("--subset", default="val")
    evaluate.add_argument(
        "--min-confidence",
        type=float,
        default=0.05,
        help="keep detections above this score (COCO AP wants low; default %(default)s)",
    )
    evaluate.add_argument("--out", default=None, help="results .json (a .md table is written beside it)")

    splash = commands.add_parser("splash", parents=[common], help="colour splash + overlay of one image or video")
    splash.add_argument("--image", default=None)
    splash.add_argument("--video", default=None)
    splash.add_argument("--out-dir", default=None, help="folder for the outputs (default: next to the input)")
    splash.add_argument("--min-confidence", type=float, default=None)
    return parser


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "splash": cmd_splash}


def run(task, argv=None):
    """Parse argv and run the command; user errors print one line and exit with code 2."""
    from mrcnn.data.errors import DatasetError
    from mrcnn.weights import h5 as weights_io

    args = build_parser(task).parse_args(argv)
    if args.dataset is None and args.command != "splash":
        raise SystemExit(f"{task.name}: --dataset is required")
    try:
        return COMMANDS[args.command](task, args)
    except (CommandError, DatasetError, weights_io.WeightsFileError, FileNotFoundError, ValueError) as err:
        print(f"{task.name} {args.command}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as err:  # a read-only, full or non-folder --logs / --out / --out-dir
        where = f" {err.filename}" if err.filename else ""
        print(f"{task.name} {args.command}: error: cannot write{where}: {err.strerror or err}", file=sys.stderr)
        raise SystemExit(2) from None


def repo_shared_dir():
    """<repo>/../shared, where the project's datasets and weights live next to the checkout."""
    return Path(__file__).resolve().parents[3] / "shared"
