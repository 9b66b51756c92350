"""A TensorFlow-free stub model, and helpers that run the real server (on it or on weights) in a subprocess.

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
def run_server(module, args=(), threads=4, env=None, timeout=30.0):
    """Start ``python -m <module> --port 0 --threads N [args]`` in a subprocess; yield its base URL; stop it after.

    The URL is the one the server prints once it listens (after loading its model); `timeout` bounds that wait.
    """
    root = Path(__file__).resolve().parents[1]
    child_env = dict(os.environ, **(env or {}))
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), child_env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", module, "--port", "0", "--threads", str(threads), *args]
    errors = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen(command, cwd=root, env=child_env, stdout=subprocess.PIPE, stderr=errors, text=True)
    lines = queue.Queue()

    def pump():
        for line in proc.stdout:
            lines.put(line)
        lines.put("")  # end of output: the server exited

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield _served_url(module, lines, errors, time.monotonic() + timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        errors.close()


def _served_url(module, lines, errors, deadline):
    """The URL of the first "http://" line the server prints (other lines are skipped) before `deadline`."""
    while True:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise RuntimeError(f"python -m {module} printed no URL in time") from None
        if "http://" in line:
            return line[line.index("http://") :].split()[0]
        if not line:
            errors.seek(0)
            last = ([text for text in errors.read().splitlines() if text.strip()] or ["(no output)"])[-1]
            raise RuntimeError(f"python -m {module} exited before serving; its last line: {last.strip()}")


def run_stub_server(threads=4, env=None, timeout=30.0, args=()):
    """run_server on the stub model (``python -m mrcnn_api.testing``)."""
    return run_server("mrcnn_api.testing", args, threads, env, timeout)


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
