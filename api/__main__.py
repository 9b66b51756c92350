"""``python -m api`` / ``mrcnn-serve``: serve the Mask R-CNN API with waitress."""

import argparse
import sys

from .app import DEFAULT_WEIGHTS, create_app
from .predictor import WeightsError
from .server import serve


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="mrcnn-serve", description="Serve Mask R-CNN over HTTP.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=5000, help="TCP port; 0 picks a free one (default 5000)")
    parser.add_argument(
        "--weights", default=str(DEFAULT_WEIGHTS), help=f"Mask R-CNN .h5 weights file (default {DEFAULT_WEIGHTS})"
    )
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads (default 4)")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be in 0..65535, got {args.port}")
    if args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")
    return args


def main(argv=None):
    """Load the weights (exit 2 with a one-line error if that fails), then serve."""
    args = parse_args(argv)
    try:
        app = create_app({"WEIGHTS": args.weights})
    except WeightsError as error:
        print(f"mrcnn-serve: error: {error}", file=sys.stderr)
        return 2
    serve(app, args.host, args.port, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
