"""Shared pytest fixtures."""

import os
from pathlib import Path

import pytest

SHARED_DIR = Path(__file__).resolve().parents[2] / "shared"
# Also for module- and session-scoped fixtures, which are built before the function-scoped ones below.
os.environ["MRCNN_OFFLINE"] = "1"
os.environ["MRCNN_PRECISION"] = "float32"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    """Tests never touch the network: ImageNet downloads are off unless a test turns them on (local server)."""
    monkeypatch.setenv("MRCNN_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _float32(monkeypatch):
    """PRECISION "auto" means float32 in tests on every machine (it would be bfloat16 on CPUs with AVX512_BF16);
    the tests of "auto" itself unset MRCNN_PRECISION and patch the machine probe."""
    monkeypatch.setenv("MRCNN_PRECISION", "float32")


@pytest.fixture(scope="session")
def shared_dir():
    """The read-only ``shared/`` folder beside the checkout (datasets, weights); skips the test if absent."""
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} not found: the datasets and weights live there")
    return SHARED_DIR
