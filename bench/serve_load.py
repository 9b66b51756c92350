#!/usr/bin/env python
"""Served-load benchmark: latency and throughput of the REST API (`python -m api`, waitress) over HTTP.

    python bench/serve_load.py [--weights api/weights/balloon_mobilenet.h5] [--image PHOTO] [--requests 40]
                               [--clients 4,8] [--threads 4] [--precision auto] [--query masks=none]
                               [--out bench/results/serve_NAME.json] [--quick]

Starts the API in a subprocess on 127.0.0.1 and a free port, waits for GET /ready, sends untimed warm-up
requests, then POSTs the photo (raw JPEG body to /predict) --requests times from one client, and as many times
from each --clients level (split evenly over its concurrent clients). Per level it reports the client-side
round-trip latency (median, p90), the server's inference_ms (median), throughput (requests / wall time of the
level) and errors. The machine reference (../shared/tools/reference_ms.py) is measured before the server starts
and after it stops; latencies are also given as multiples of it. The clients run on the same machine as the
server, so they share its CPU. --quick is a smoke run (2 requests, 2 clients); its figures mean nothing.
"""

import argparse
import concurrent.futures
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from api.testing import run_server  # noqa: E402  (needs REPO on sys.path)
from bench import measure  # noqa: E402
from bench.bench import BenchError, load_reference  # noqa: E402
from mrcnn.data.images import image_size  # noqa: E402
from mrcnn.engine.atomic import write_json  # noqa: E402

DEFAULT_WEIGHTS = REPO / "api" / "weights" / "balloon_mobilenet.h5"
DEFAULT_IMAGE = REPO.parent / "shared" / "datasets" / "balloon" / "val" / "3825919971_93fb1ec581_b.jpg"
PRECISION_CHOICES = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
START_TIMEOUT = 180.0  # seconds for the server to load the model and print its URL, and again for /ready
REQUEST_TIMEOUT = 120.0
LOAD_WARNING = 0.25  # warn when the reference changes by more than this fraction between before and after
CONDITIONS = (
    "python -m api (waitress) on 127.0.0.1 in a subprocess; POST /predict with the photo as a raw image/jpeg body; "
    "client-side round trip per request (median, p90); throughput = requests / wall time of the level; clients are "
    "threads of one process on the same machine; untimed warm-up requests first"
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="weights file to serve (default: bundled)")
    parser.add_argument("--image", default=str(DEFAULT_IMAGE), help="photo to send (default: a 1024x683 val photo)")
    parser.add_argument("--requests", type=int, default=40, help="requests per level (default %(default)s)")
    parser.add_argument("--clients", default="4,8", help="comma list of concurrent client counts (default 4,8)")
    parser.add_argument("--threads", type=int, default=4, help="waitress worker threads (default %(default)s)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests before measuring (default 2)")
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default="auto", help="MRCNN_PRECISION of the server (default auto)"
    )
    parser.add_argument("--query", default="", help="query string of /predict, e.g. masks=none (default none)")
    parser.add_argument("--out", default=None, help="JSON output (default bench/results/serve_<date>.json)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 requests, 2 clients, 1 warm-up")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.clients, args.warmup = 2, "2", 1
    try:
        args.clients = [int(c) for c in args.clients.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--clients must be a comma list of integers, got {args.clients!r}")
    if not args.clients or min(args.clients) < 1 or args.requests < 1 or args.threads < 1 or args.warmup < 0:
        parser.error("--clients, --requests and --threads must be >= 1 and --warmup >= 0")
    return args


def post(url, body, timeout=REQUEST_TIMEOUT):
    """One POST of `body` (JPEG bytes) -> (round-trip ms, server inference_ms or None, error text or None)."""
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "image/jpeg"}, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
        return (time.perf_counter() - start) * 1000.0, reply.get("inference_ms"), None
    except urllib.error.HTTPError as error:
        return (time.perf_counter() - start) * 1000.0, None, f"HTTP {error.code}: {error.read()[:200]!r}"
    except (OSError, ValueError) as error:
        return (time.perf_counter() - start) * 1000.0, None, f"{type(error).__name__}: {error}"


def wait_ready(base_url, timeout=START_TIMEOUT):
    """Poll GET /ready until it answers 200 (the model has detected once)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(base_url + "ready", timeout=30) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"{base_url}ready did not answer 200 within {timeout:.0f} s")
        time.sleep(0.5)


def run_level(url, body, clients, requests):
    """`requests` POSTs split evenly over `clients` concurrent clients (rounded up) -> the level's figures."""
    per_client = -(-requests // clients)

    def client(_):
        return [post(url, body) for _ in range(per_client)]

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        replies = [reply for replies in pool.map(client, range(clients)) for reply in replies]
    wall = time.perf_counter() - start
    return summarise(replies, clients, wall)


def summarise(replies, clients, wall_s):
    """Figures of one level from its [(ms, inference_ms, error)] replies and its wall time."""
    good = [(ms, inference) for ms, inference, error in replies if error is None]
    errors = [error for _, _, error in replies if error is not None]
    latencies = [ms for ms, _ in good]
    inference = [value for _, value in good if value is not None]
    return {
        "clients": clients,
        "requests": len(replies),
        "errors": len(errors),
        "error_samples": errors[:3],
        "latency_ms": {
            "median": measure.median(latencies) if latencies else None,
            "p90": float(np.percentile(latencies, 90)) if latencies else None,
            "all": [round(ms, 1) for ms in latencies],
        },
        "inference_ms_median": measure.median(inference) if inference else None,
        "wall_s": round(wall_s, 3),
        "requests_per_s": len(good) / wall_s if wall_s > 0 else None,
    }


def markdown_table(result):
    ref = result["reference_ms"]
    lines = [
        "| clients | requests | errors | latency median ms (x ref) | latency p90 ms | server inference median ms "
        "| requests/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in result["levels"].values():
        latency = level["latency_ms"]
        median = f"{latency['median']:.0f} ({latency['median'] / ref:.2f}x)" if latency["median"] is not None else "-"
        p90 = f"{latency['p90']:.0f}" if latency["p90"] is not None else "-"
        inference = f"{level['inference_ms_median']:.0f}" if level["inference_ms_median"] is not None else "-"
        rate = f"{level['requests_per_s']:.2f}" if level["requests_per_s"] is not None else "-"
        row = (level["clients"], level["requests"], level["errors"], median, p90, inference, rate)
        lines.append("| " + " | ".join(str(cell) for cell in row) + " |")
    return "\n".join(lines)


def served_precision(precision):
    """The dtype policy the server builds with: its MRCNN_PRECISION, or this machine's "auto" choice."""
    from mrcnn.engine import distribute

    return precision if precision != "auto" else distribute.resolve_precision("auto", "inference")


def run(args, log=print):
    """Measure the served API as `args` asks; returns the result dict (with its markdown table)."""
    image = Path(args.image)
    if not image.is_file():
        raise BenchError(f"--image {image} not found (the default lives in ../shared/datasets/balloon/val)")
    if not Path(args.weights).is_file():
        raise BenchError(f"--weights {args.weights} not found")
    body = image.read_bytes()
    height, width = image_size(image)
    reference_ms = load_reference()
    load_start = os.getloadavg()[0]
    started = time.time()

    def reference():
        log("measuring the reference (ResNet101 forward, 1x512x512x3) ...")
        value = reference_ms(runs=1, warmup=0) if args.quick else reference_ms(runs=7, warmup=2)
        measure.free_memory()
        log(f"reference_ms {value:.1f}")
        return value

    refs = [reference()]
    env = {"MRCNN_API_TOKEN": ""}  # a token set in this shell would refuse the benchmark's requests
    if args.precision != "auto":
        env["MRCNN_PRECISION"] = args.precision
    server_args = ["--weights", str(args.weights)]
    log(f"starting python -m api --threads {args.threads} {' '.join(server_args)} ...")
    levels = {}
    try:
        with run_server("api", server_args, threads=args.threads, env=env, timeout=START_TIMEOUT) as base_url:
            wait_ready(base_url)
            url = base_url + "predict" + (f"?{args.query}" if args.query else "")
            warm = [post(url, body) for _ in range(args.warmup)]
            failed = [error for _, _, error in warm if error]
            if failed:
                raise BenchError(f"the warm-up request failed: {failed[0]}")
            for clients in [1, *args.clients]:
                log(f"{clients} client(s): {args.requests} requests ...")
                levels[str(clients)] = run_level(url, body, clients, args.requests)
    except BenchError:
        raise
    except RuntimeError as error:  # the server did not start: run_server's one-line reason
        raise BenchError(str(error)) from None
    refs.append(reference())
    spread = (max(refs) - min(refs)) / min(refs)
    result = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {**measure.machine_info(), "load_average_1min_start_end": [load_start, os.getloadavg()[0]]},
        "reference_ms": measure.median(refs),
        "reference_ms_all": refs,
        "warnings": []
        if spread <= LOAD_WARNING
        else [f"The reference moved by {spread:.0%} ({min(refs):.0f}-{max(refs):.0f} ms): the machine's load changed"],
        "conditions": CONDITIONS,
        "quick": bool(args.quick),
        "server": {
            "threads": args.threads,
            "weights": str(args.weights),
            "precision": served_precision(args.precision),
        },
        "image": {"file": image.name, "width": width, "height": height, "bytes": len(body)},
        "query": args.query,
        "warmup": args.warmup,
        "levels": levels,
    }
    result["seconds"] = round(time.time() - started, 1)
    result["table"] = markdown_table(result)
    return result


def main(argv=None):
    args = parse_args(argv)
    try:
        result = run(args, log=lambda text: print(text, flush=True))
    except BenchError as error:
        print(f"serve_load: {error}", file=sys.stderr)
        return 2
    out = args.out or REPO / "bench" / "results" / f"serve_{datetime.datetime.now():%Y%m%dT%H%M}.json"
    write_json(out, result)
    machine = result["machine"]
    refs = ", ".join(f"{r:.1f}" for r in result["reference_ms_all"])
    image = result["image"]
    print(
        f"\n{result['date']}, {machine['platform']}, {machine['cpu_count']} CPUs, TF {machine['tensorflow']}; "
        f"precision {result['server']['precision']}; reference_ms {result['reference_ms']:.1f} (before, after: "
        f"{refs}); "
        f"{image['width']}x{image['height']} {image['file']}"
    )
    for warning in result["warnings"]:
        print(f"WARNING: {warning}")
    print(f"\n{result['table']}\n\nWrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
