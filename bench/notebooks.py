#!/usr/bin/env python
"""Run matterport's notebooks cell by cell on the installed mrcnn, as a user moving over would.

    pip install nbclient nbformat ipykernel
    python bench/notebooks.py TREE [NAME ...] [--fast-shapes] [--timeout 600] [--out DIR]

TREE is a matterport-layout folder (samples/..., datasets/balloon, logs/) without its own mrcnn/ package, so that
the notebooks import this one. NAME is a key of NOTEBOOKS (default: all that exist). Every cell runs, failed or
not; the report gives, per notebook, the cells passed and each failure's first error line, and the executed
copies go to DIR (default TREE/out). --fast-shapes runs train_shapes with STEPS_PER_EPOCH = 2 and
VALIDATION_STEPS = 1 (its 100 steps take about an hour on a 2-core CPU); the report marks it as modified.
"""

import argparse
import os
import sys
import time
from pathlib import Path

NOTEBOOKS = {
    "train_shapes": "samples/shapes/train_shapes.ipynb",
    "demo": "samples/demo.ipynb",
    "inspect_data": "samples/coco/inspect_data.ipynb",
    "inspect_model": "samples/coco/inspect_model.ipynb",
    "inspect_weights": "samples/coco/inspect_weights.ipynb",
    "inspect_balloon_data": "samples/balloon/inspect_balloon_data.ipynb",
    "inspect_balloon_model": "samples/balloon/inspect_balloon_model.ipynb",
    "inspect_nucleus_data": "samples/nucleus/inspect_nucleus_data.ipynb",
    "inspect_nucleus_model": "samples/nucleus/inspect_nucleus_model.ipynb",
}
ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg"}
FAST_SHAPES = (("STEPS_PER_EPOCH = 100", "STEPS_PER_EPOCH = 2"), ("VALIDATION_STEPS = 5", "VALIDATION_STEPS = 1"))


def first_error(cell):
    """The first line of the cell's error output, or None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = str(output.get("evalue", "")).strip()
            return f"{output.get('ename')}: {value.splitlines()[0][:300] if value else ''}"
    return None


def shorten_training(notebook):
    """--fast-shapes: fewer steps in train_shapes' config cell. True if a cell changed."""
    changed = False
    for cell in notebook.cells:
        for old, new in FAST_SHAPES:
            if cell.cell_type == "code" and old in cell.source:
                cell.source, changed = cell.source.replace(old, new), True
    return changed


def run_notebook(path, out_dir, timeout, fast_shapes):
    """Execute every code cell of `path`, printing one line per cell; returns the summary line."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    notebook = nbformat.read(str(path), as_version=4)
    modified = fast_shapes and shorten_training(notebook)
    client = NotebookClient(
        notebook, timeout=timeout, allow_errors=True, resources={"metadata": {"path": str(path.parent)}}
    )
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    passed = 0
    with client.setup_kernel():
        for number, cell in enumerate(code, 1):
            started = time.time()
            try:
                client.execute_cell(cell, notebook.cells.index(cell))
                error = first_error(cell)
            except (CellTimeoutError, DeadKernelError, CellExecutionError) as err:
                error = f"{type(err).__name__}: {str(err).splitlines()[0][:300]}"
            passed += error is None
            head = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else "(empty)"
            print(
                f"  cell {number:2d} {time.time() - started:6.1f}s {'FAIL' if error else 'ok  '}  [{head}]", flush=True
            )
            if error:
                print(f"      {error}", flush=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(out_dir / path.name))
    note = " (MODIFIED: fewer training steps)" if modified else ""
    return f"{path.stem}{note}: {passed} of {len(code)} cells ran without error"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tree", type=Path, help="matterport-layout folder holding samples/")
    parser.add_argument("names", nargs="*", help=f"notebooks to run (default all): {', '.join(NOTEBOOKS)}")
    parser.add_argument("--fast-shapes", action="store_true", help="train_shapes with 2 steps per epoch")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--out", type=Path, default=None, help="folder for the executed notebooks")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        parser.error(f"unknown notebook(s) {', '.join(unknown)}; choose from {', '.join(NOTEBOOKS)}")
    if (args.tree / "mrcnn").exists():
        parser.error(f"{args.tree / 'mrcnn'} exists: remove it so that the notebooks import the installed mrcnn")
    try:
        import nbclient  # noqa: F401
    except ImportError:
        parser.error("needs nbclient: pip install nbclient nbformat ipykernel")
    paths = [args.tree / NOTEBOOKS[name] for name in (args.names or NOTEBOOKS)]
    missing = [str(path) for path in paths if not path.is_file()]
    if args.names and missing:
        parser.error(f"not found: {', '.join(missing)}")
    os.environ.update(ENV)
    summaries = []
    for path in (p for p in paths if p.is_file()):
        print(f"== {path}", flush=True)
        summaries.append(run_notebook(path, args.out or args.tree / "out", args.timeout, args.fast_shapes))
    print("\n".join(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
