"""The `mrcnn` command (console script). Subcommands:

  mrcnn export --weights W --format savedmodel|tflite|onnx --out DIR
  mrcnn inspect DATA [--format F] [--images DIR] [--image-size N] [--skip-bad] [--png PATH]

W is a weights file saved by mrcnn (it stores its config and class names). Errors are printed
as one line (exit code 2), not as a traceback.
"""

import argparse
import os
import sys
import tempfile


class CommandError(Exception):
    """A user error: printed as one line, exit code 2."""


def _parser():
    parser = argparse.ArgumentParser(prog="mrcnn", description="Mask R-CNN tools")
    commands = parser.add_subparsers(dest="command", required=True)
    export = commands.add_parser("export", help="write a standalone SavedModel, TFLite or ONNX model")
    export.add_argument("--weights", required=True, help="weights file saved by mrcnn (holds its config)")
    export.add_argument("--format", default="savedmodel", choices=("savedmodel", "tflite", "onnx"))
    export.add_argument("--out", required=True, help="output folder")
    export.add_argument("--image-size", type=int, help="IMAGE_MIN_DIM = IMAGE_MAX_DIM of the exported model")
    export.add_argument("--min-confidence", type=float, help="DETECTION_MIN_CONFIDENCE of the exported model")
    inspect = commands.add_parser("inspect", help="dataset report: classes, sizes against the anchors, problems")
    inspect.add_argument("data", help="COCO json, VIA json or folder, LabelMe folder, YOLO yaml or folder, mask PNGs")
    inspect.add_argument("--format", help="dataset format (default: detected); one of mrcnn.datasets.FORMATS")
    inspect.add_argument("--images", help="image folder (COCO/VIA) or split name (YOLO)")
    inspect.add_argument("--image-size", type=int, default=1024, help="model input size the object sizes refer to")
    inspect.add_argument("--skip-bad", action="store_true", help="list malformed annotations instead of stopping")
    inspect.add_argument("--png", default="inspect.png", help="where to write the report figure")
    return parser


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
    from mrcnn.config import ConfigError
    from mrcnn.model import MaskRCNN
    from mrcnn.weights.h5 import WeightsFileError

    overrides = {"PRECISION": "float32"}  # the exported graph runs anywhere: float32, not this machine's "auto"
    if args.image_size:
        overrides.update(IMAGE_MIN_DIM=args.image_size, IMAGE_MAX_DIM=args.image_size)
    if args.min_confidence is not None:
        overrides["DETECTION_MIN_CONFIDENCE"] = args.min_confidence
    try:
        model = MaskRCNN.from_weights(args.weights, model_dir=tempfile.gettempdir(), **overrides)
        path = export.export(model, args.out, args.format)
    except (export.ExportError, WeightsFileError, ConfigError, FileNotFoundError) as err:
        raise CommandError(str(err)) from None
    print(f"Wrote {path}")
    return path


def main(argv=None):
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        {"export": run_export, "inspect": run_inspect}[args.command](args)
    except CommandError as err:
        print(f"mrcnn {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
