"""The `mrcnn` console script (commands), its own-data commands (own_data, predict) and the shared sample CLI
(sample); common holds what they share."""

from mrcnn.cli.commands import main

__all__ = ["main"]
