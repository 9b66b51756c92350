"""``python -m api`` / ``mrcnn-serve`` / ``mrcnn serve``: serve the Mask R-CNN API with waitress."""

import argparse
import sys

from .app import DEFAULT_WEIGHTS, create_app
from .predictor import WeightsError
from .server import add_server_arguments, check_server_arguments, serve, server_options


def add_arguments(parser, weights_positional=False):
    """The serving flags (shared by ``mrcnn serve``, where the weights file is a positional argument)."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=5000, help="TCP port; 0 picks a free one (default 5000)")
    weights_help = f"Mask R-CNN .h5 weights file (default {DEFAULT_WEIGHTS})"
    if weights_positional:
        parser.add_argument("weights", nargs="?", default=str(DEFAULT_WEIGHTS), help=weights_help)
    else:
        parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help=weights_help)
    add_server_arguments(parser)


def check_arguments(parser, args):
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    check_server_arguments(parser, args)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="mrcnn-serve", description="Serve Mask R-CNN over HTTP.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    return args


def run(args, prog="mrcnn-serve"):
    """Load the weights (exit 2 with a one-line error if that fails), then serve."""
    try:
        app = create_app({"WEIGHTS": args.weights})
    except WeightsError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    serve(app, args.host, args.port, **server_options(args))
    return 0


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
