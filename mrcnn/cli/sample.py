"""The command line shared by the samples: `train`, `evaluate` and `splash` for any dataset.

A sample supplies a `Task`: its Config class, a loader `load(dataset_dir, subset, args)` returning
a prepared `utils.Dataset`, and a default dataset folder; optionally its own flags
(`extra_arguments`) and Config values derived from them (`config_overrides`, e.g. NUM_CLASSES).
Everything else (weights resolution, training, COCO evaluation, splash output) lives here once.
"""

import argparse
import ast
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mrcnn.engine.atomic import atomic_path

HEADS = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")


@dataclass
class Task:
    name: str
    config_class: type
    load: callable  # (dataset_dir, subset, args) -> prepared utils.Dataset
    default_dataset: str = None
    extra_arguments: callable = field(default=None)  # (parser) -> None, sample-specific flags
    config_overrides: callable = field(default=None)  # (args) -> {Config attribute: value} from those flags


class CommandError(Exception):
    """A user error: printed as one line, exit code 2."""


def limit_dataset(dataset, count):
    """Keep the first `count` images of a prepared dataset (for quick runs)."""
    if count:
        dataset.image_info = dataset.image_info[:count]
        dataset.prepare()
    return dataset


def parse_setting(text):
    """'KEY=VALUE' from --set as (KEY, value); VALUE is a Python literal, else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isupper():
        raise argparse.ArgumentTypeError(f"--set {text!r}: use KEY=VALUE with an upper-case Config attribute")
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


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


def load_weights(model, path):
    """Load a resolved weights path, or the backbone's ImageNet file for "imagenet"; None loads nothing.

    A file trained for another class count loads without the class-specific heads.
    """
    from mrcnn.weights import h5 as weights_io

    if path is None:
        return None
    if path == "imagenet":
        path = model.get_imagenet_weights()
    stored = (weights_io.read_metadata(path)["config"] or {}).get("NUM_CLASSES")
    exclude = HEADS if stored and stored != model.config.NUM_CLASSES else None
    model.load_weights(path, by_name=True, exclude=exclude)
    print(f"Loaded weights from {path}" + (" (class heads excluded: other class count)" if exclude else ""))
    return path


def training_stages(epochs, learning_rate, layers=None):
    """[(last epoch, layers, learning rate)]: one stage for an explicit --layers, else three.

    The default first trains the new layers (FPN, RPN, heads) on a frozen ImageNet backbone
    for 20% of the epochs, then fine-tunes all layers at lr/5, and ends at lr/50 for the last 15%.
    Training all layers from the start lets the random heads' first gradients wreck the
    backbone's deep features (seen on MobileNet: C5 went 91% dead within 5 epochs).
    """
    if layers:
        return [(epochs, layers, learning_rate)]
    heads_end = max(1, round(0.2 * epochs))
    final_start = max(heads_end, round(0.85 * epochs))
    stages = [
        (heads_end, "heads", learning_rate),
        (final_start, "all", learning_rate / 5),
        (epochs, "all", learning_rate / 50),
    ]
    return [stage for i, stage in enumerate(stages) if i == 0 or stage[0] > stages[i - 1][0]]


def writable_folder(path, flag):
    """Check that `path` is (or can become) a folder we can write in, creating nothing; CommandError naming `flag`.

    The folder itself is made later, by what writes into it, so a run that stops on bad input leaves nothing.
    """
    folder = Path(path)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(existing))
        with tempfile.NamedTemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise CommandError(f"{flag} {folder}: not a writable folder ({err.strerror or err})") from None
    return folder


def cmd_train(task, args):
    from mrcnn import model as modellib

    writable_folder(args.logs, "--logs")  # before the datasets and the model are built
    config = _config(task, args)
    train_set = limit_dataset(task.load(args.dataset, "train", args), args.limit)
    val_set = limit_dataset(task.load(args.dataset, "val", args), args.limit)
    if args.limit:
        config.VALIDATION_STEPS = max(1, min(config.VALIDATION_STEPS, args.limit // config.BATCH_SIZE))
    config.display()
    model = modellib.MaskRCNN("training", config, args.logs)
    load_weights(model, resolve_weights(task, args))
    started = time.perf_counter()
    for last_epoch, layers, rate in training_stages(args.epochs, args.lr or config.LEARNING_RATE, args.layers):
        if last_epoch > model.epoch:
            print(f"Stage: layers={layers}, learning rate {rate:g}, up to epoch {last_epoch}")
            model.train(train_set, val_set, learning_rate=rate, epochs=last_epoch, layers=layers)
    print(f"Training took {time.perf_counter() - started:.0f} s; last checkpoint: {model.find_last()}")
    print(f"Training curves: {write_curves(model.log_dir)}")


def write_curves(log_dir):
    """<log_dir>/curves.png: the per-epoch losses (train and val) read back from the run's TensorBoard logs."""
    from mrcnn import visualize
    from mrcnn.engine.history import read_history

    path = Path(log_dir) / "curves.png"
    visualize.plot_history(read_history(log_dir), path=path)
    return path


def _inference_model(task, args):
    """An inference model built with the config stored in the weights file (so its architecture matches)."""
    from mrcnn import model as modellib
    from mrcnn.weights import h5 as weights_io

    path = resolve_weights(task, args)
    if path in (None, "imagenet"):
        raise CommandError("--weights is required for inference ('last' or a .h5 path)")
    stored = weights_io.read_metadata(path)["config"]
    model = modellib.MaskRCNN("inference", _config(task, args, inference=True, stored=stored), args.logs)
    load_weights(model, path)
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
    from mrcnn import visualize
    from mrcnn.data.images import read_image

    image = read_image(path)
    r = model.detect([image], verbose=0)[0]
    splash, overlay = _outputs(path, out_dir)
    visualize.save_image(visualize.color_splash(image, r["masks"]), f"{splash}.png")
    names = model.class_names or ["BG"] + [str(i) for i in range(1, model.config.NUM_CLASSES)]
    drawn = visualize.draw_instances(image, r["rois"], r["masks"], r["class_ids"], names, r["scores"])
    visualize.save_image(drawn, f"{overlay}.png")
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
    common.add_argument("--weights", default=None, help="'imagenet', 'last' or a path to an .h5 file")
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
    train.add_argument("--epochs", type=int, default=30)
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
