"""The `mrcnn` command (console script). Subcommands (each with --help):

  mrcnn inspect  DATA                        dataset report: images, instances, classes, object sizes, problems
  mrcnn train    DATA [--val VAL] --out DIR  train, keep DIR/best.h5 by val mask AP, write eval.json/md, curves
  mrcnn evaluate WEIGHTS DATA [--out DIR]    COCO mask + box AP (overall and per class) + compute_ap mAP50
  mrcnn predict  WEIGHTS IMAGE_OR_FOLDER... --out DIR [--format overlay|splash|json|coco]
  mrcnn serve    [WEIGHTS] [--host --port]   the REST API of api/ (the flags of `python -m api`)
  mrcnn export   --weights W --format savedmodel|tflite|onnx --out DIR

DATA is a COCO json, a VIA json or folder, a LabelMe folder, a YOLO-seg yaml or folder, or a folder of mask PNGs
(detected, or named with --format: coco, via, labelme, yolo or masks). WEIGHTS is a file saved by mrcnn (it
stores its config and class names). Errors are printed as one line (exit code 2), not as a traceback.
"""

import argparse
import os
import sys

from mrcnn.cli.common import CommandError


def _parser():
    parser = argparse.ArgumentParser(
        prog="mrcnn", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a standalone SavedModel, TFLite or ONNX model")
    export.add_argument("--weights", required=True, help="weights file saved by mrcnn (holds its config)")
    export.add_argument("--format", default="savedmodel", choices=("savedmodel", "tflite", "onnx"))
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--image-size", type=int, help="IMAGE_MIN_DIM = IMAGE_MAX_DIM of the exported model")
    export.add_argument("--min-confidence", type=float, help="DETECTION_MIN_CONFIDENCE of the exported model")
    _train_parser(commands)
    _evaluate_parser(commands)
    _predict_parser(commands)
    _serve_parser(commands)
    inspect = commands.add_parser("inspect", help="dataset report: classes, sizes against the anchors, problems")
    inspect.add_argument("data", help="COCO json, VIA json or folder, LabelMe folder, YOLO yaml or folder, mask PNGs")
    inspect.add_argument("--format", help="dataset format (default: detected): coco, via, labelme, yolo or masks")
    inspect.add_argument("--images", help="image folder (COCO/VIA) or split name (YOLO)")
    inspect.add_argument("--image-size", type=int, default=1024, help="model input size the object sizes refer to")
    inspect.add_argument("--skip-bad", action="store_true", help="list malformed annotations instead of stopping")
    inspect.add_argument("--png", default="inspect.png", help="where to write the report figure")
    return parser


def _data_arguments(parser):
    parser.add_argument("--format", help="dataset format (default: detected): coco, via, labelme, yolo or masks")
    parser.add_argument("--images", help="image folder (COCO/VIA) or split name (YOLO)")
    parser.add_argument("--skip-bad", action="store_true", help="drop malformed annotations (listed), do not stop")


def _train_parser(commands):
    from mrcnn.cli.common import parse_setting, parse_sizes

    train = commands.add_parser("train", help="train on your data; keeps DIR/best.h5 by val mask AP")
    train.add_argument("data", help="training data (see mrcnn --help for the formats)")
    train.add_argument("--val", help="val data (default: a seeded 15%% hold-out of DATA, listed in DIR/split.json)")
    train.add_argument("--test", help="a split no choice sees: best.h5 is scored on it once, at the end (eval.md)")
    train.add_argument("--out", required=True, help="run folder: checkpoints, best.h5, last.h5, eval.json, curves")
    train.add_argument("--weights", default="imagenet", help="imagenet (default), last (resume DIR), none, or a .h5")
    train.add_argument("--backbone", help="a registry name (default mobilenet_v1, alpha 0.75)")
    train.add_argument("--image-size", type=int, help="train at this one size (default: 512 then 1024, see --sizes)")
    train.add_argument("--sizes", type=parse_sizes, help="progressive resizing (default 512,1024: 30%% at 512)")
    train.add_argument("--epochs", type=int, help="length of the schedule (default 90, one pass over DATA each)")
    train.add_argument("--layers", help="one constant-rate stage of these layers: heads, 3+, 4+, 5+, all or a regex")
    train.add_argument("--lr", type=float, help="learning rate (default 0.01: heads; all layers at lr/5, then lr/50)")
    train.add_argument("--eval-every", type=int, help="COCO AP on val every N epochs (default: epochs/10)")
    train.add_argument("--patience", type=int, help="stop after N evaluations without a better val mask AP")
    train.add_argument("--set", type=parse_setting, action="append", metavar="KEY=VALUE",
                       help="override a Config attribute, e.g. --set TRAIN_ROIS_PER_IMAGE=64 (repeatable)")  # fmt: skip
    _data_arguments(train)


def _evaluate_parser(commands):
    evaluate = commands.add_parser("evaluate", help="COCO mask and box AP of a weights file on a dataset")
    evaluate.add_argument("weights", help="a .h5 saved by mrcnn (e.g. DIR/best.h5)")
    evaluate.add_argument("data", help="the data to score (its classes must be the model's)")
    evaluate.add_argument("--out", help="folder for eval.json and eval.md (default: print only)")
    evaluate.add_argument("--min-confidence", type=float, default=0.05, help="score threshold (default 0.05, as COCO)")
    evaluate.add_argument("--image-size", type=int, help="input size (default: the one stored in the weights)")
    evaluate.add_argument(
        "--precision",
        default="float32",
        choices=("float32", "auto", "mixed_bfloat16", "mixed_float16"),
        help="float32 (default: the same figures on every machine) or auto, as the API serves",
    )
    _data_arguments(evaluate)


def _predict_parser(commands):
    from mrcnn.inference.outputs import FORMATS

    predict = commands.add_parser("predict", help="detect instances in images; write overlays, splashes or results")
    predict.add_argument("weights", help="a .h5 saved by mrcnn")
    predict.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--format", default="overlay", choices=FORMATS, help="what to write (default overlay)")
    predict.add_argument("--min-confidence", type=float, help="score threshold (default: the one stored)")
    predict.add_argument(
        "--categories",
        metavar="COCO_JSON",
        help="with --format coco: write the category ids that this COCO file gives the model's class names "
        "(default: the class ids 1..K)",
    )


def _serve_parser(commands):
    serve = commands.add_parser("serve", help="serve the REST API (POST /predict) with waitress")
    try:
        from mrcnn_api.__main__ import add_arguments
    except ImportError:
        serve.set_defaults(api_missing=True)
        return
    add_arguments(serve, weights_positional=True)


def run_serve(args):
    if getattr(args, "api_missing", False):
        raise CommandError("the API is not installed: pip install 'mrcnn[api]' (or run python -m api in a checkout)")
    from mrcnn_api.__main__ import run

    return run(args, prog="mrcnn serve")


def run_inspect(args):
    from mrcnn.data.errors import DatasetError
    from mrcnn.datasets import load_dataset
    from mrcnn.datasets.report import format_report, inspect_dataset, save_report_png

    try:
        dataset = load_dataset(args.data, format=args.format, images=args.images, skip_bad=args.skip_bad)
        report = inspect_dataset(dataset, image_size=args.image_size)
        print(format_report(report))
        save_report_png(report, args.png)
    except (DatasetError, OSError) as err:
        raise CommandError(str(err)) from None
    print(f"Wrote {args.png}")
    return report


def run_export(args):
    from mrcnn import export
    from mrcnn.cli.own_data import inference_model
    from mrcnn.config import ConfigError
    from mrcnn.weights.errors import WeightsFileError

    try:
        # the exported graph runs anywhere: float32, not this machine's "auto"
        model = inference_model(args.weights, args.min_confidence, args.image_size, precision="float32")
        path = export.export(model, args.out, args.format)
    except (export.ExportError, WeightsFileError, ConfigError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    print(f"Wrote {path}")
    return path


def _commands():
    from mrcnn.cli import own_data, predict

    return {"export": run_export, "inspect": run_inspect, "train": own_data.run_train,
            "evaluate": own_data.run_evaluate, "predict": predict.run_predict, "serve": run_serve}  # fmt: skip


def main(argv=None):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)  # --help and usage errors answer before TensorFlow is imported
    from mrcnn.cli.predict import PartialFailure
    from mrcnn.config import ConfigError
    from mrcnn.data.errors import AnnotationError, DatasetError
    from mrcnn.inference.mold import ImageError
    from mrcnn.weights.errors import WeightsFileError

    try:
        code = _commands()[args.command](args)
    except PartialFailure as err:
        print(f"mrcnn {args.command}: {err}", file=sys.stderr)
        return 1
    except (CommandError, DatasetError, AnnotationError, ImageError, WeightsFileError, ConfigError,
            FileNotFoundError) as err:  # fmt: skip
        # the loaders' hints, in CLI terms
        message = str(err).replace("pass skip_bad=True", "pass --skip-bad").replace("pass images=", "pass --images ")
        message = message.replace("pass format=", "pass --format ")
        print(f"mrcnn {args.command}: error: {message}", file=sys.stderr)
        return 2
    except OSError as err:  # a read-only, full or non-folder --out
        where = f" {err.filename}" if err.filename else ""
        print(f"mrcnn {args.command}: error: cannot write{where}: {err.strerror or err}", file=sys.stderr)
        return 2
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
