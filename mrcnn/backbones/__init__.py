"""Backbones: a registry of builders returning `Backbone` (a C2..C5 Keras model plus metadata).

    from mrcnn.backbones import build_backbone, list_backbones
    backbone = build_backbone("mobilenet_v1", alpha=0.75, weights="imagenet")

A new backbone is one file with one `@register_backbone("name")` builder, imported below.
"""

from . import mobilenet, mobilenet_v3, resnet  # noqa: F401  (registers the built-in builders)
from .normalize import PixelNormalization
from .registry import (
    Backbone,
    UnknownBackboneError,
    build_backbone,
    list_backbones,
    register_backbone,
)
from .weights import find_weights_file, weights_search_dirs

__all__ = [
    "Backbone",
    "UnknownBackboneError",
    "build_backbone",
    "list_backbones",
    "register_backbone",
    "PixelNormalization",
    "find_weights_file",
    "weights_search_dirs",
]
