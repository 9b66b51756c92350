"""The `mrcnn` console script (main) and the shared sample CLI (sample)."""

from mrcnn.cli.commands import main

__all__ = ["main"]
