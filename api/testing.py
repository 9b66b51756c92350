"""A TensorFlow-free stub model and a helper that runs the real server on it, for tests and demos.

``python -m api.testing [--port 0]`` serves the stub model with waitress on 127.0.0.1.
"""

import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from mrcnn.config import Config


class StubConfig(Config):
    NAME = "stub"
    BACKBONE = "mobilenet_v1"
    NUM_CLASSES = 2
    IMAGE_MIN_DIM = 512
    IMAGE_MAX_DIM = 512


class StubModel:
    """Same interface as MaskRCNN in inference mode. For an H x W image, detect() returns two
    square instances: the top-left quadrant (score 0.9) and the centred half-size square
    (score 0.6); they overlap, so their union covers 7/16 of an image whose sides divide by 4.

    `calls` counts detect() calls; `max_concurrent` records overlapping calls (should stay 1).
    """

    def __init__(self, delay=0.0):
        self.config = StubConfig()
        self.class_names = ["BG", "balloon"]
        self.delay = delay
        self.calls = 0
        self.max_concurrent = 0
        self._active = 0
        self._counter_lock = threading.Lock()

    def detect(self, images, verbose=0):
        with self._counter_lock:
            self.calls += 1
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            if self.delay:
                time.sleep(self.delay)
            return [self._detect_one(image) for image in images]
        finally:
            with self._counter_lock:
                self._active -= 1

    @staticmethod
    def _detect_one(image):
        height, width = image.shape[:2]
        boxes = [(0, 0, height // 2, width // 2), (height // 4, width // 4, 3 * height // 4, 3 * width // 4)]
        masks = np.zeros((height, width, len(boxes)), dtype=bool)
        for i, (y1, x1, y2, x2) in enumerate(boxes):
            masks[y1:y2, x1:x2, i] = True
        return {
            "rois": np.array(boxes, dtype=np.int32),
            "class_ids": np.array([1, 1], dtype=np.int32),
            "scores": np.array([0.9, 0.6], dtype=np.float32),
            "masks": masks,
        }


@contextmanager
def run_stub_server(threads=4, env=None, timeout=30.0, args=()):
    """Start ``python -m api.testing --port 0 [args]`` in a subprocess; yield its base URL; stop it after."""
    root = Path(__file__).resolve().parents[1]
    child_env = dict(os.environ, **(env or {}))
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), child_env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "mrcnn_api.testing", "--port", "0", "--threads", str(threads), *args]
    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(command, cwd=root, env=child_env, stdout=subprocess.PIPE, stderr=errors, text=True)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put("")  # end of output: the server exited

    threading.Thread(target=pump, daemon=True).start()
    try:
        try:
            first = lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"stub server printed no URL within {timeout} s") from None
        if "http://" not in first:
            errors.seek(0)
            raise RuntimeError(f"stub server failed to start: {first!r} {errors.read()}")
        yield first[first.index("http://") :].split()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        errors.close()


def main(argv=None):
    from .app import create_app
    from .server import add_server_arguments, check_server_arguments, serve, server_options

    parser = argparse.ArgumentParser(description="Serve the API on a stub model (no TensorFlow).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each detect() sleeps")
    add_server_arguments(parser)
    args = parser.parse_args(argv)
    check_server_arguments(parser, args)
    serve(create_app({"MODEL": StubModel(delay=args.delay)}), args.host, args.port, **server_options(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
