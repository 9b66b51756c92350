"""Import the repository's command-line scripts (bench, compare, samples) as modules in tests."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path):
    """The module of REPO / relative_path, executed once per call (scripts are not packages)."""
    path = REPO / relative_path
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
