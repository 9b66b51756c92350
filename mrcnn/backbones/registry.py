"""Backbone registry: `register_backbone`, `list_backbones`, `build_backbone`, and `Backbone`.

A builder is a function `builder(input_shape, weights, train_bn, **options) -> Backbone`.
Register it with `@register_backbone("name")`; `build_backbone("name", ...)` calls it.
"""

import dataclasses
import inspect
import re

import keras

_REGISTRY = {}


@dataclasses.dataclass
class Backbone:
    """A feature extractor and what the rest of the model needs to know about it.

    model: keras.Model, input [batch, H, W, 3] raw RGB float in [0, 255] (normalisation is inside the
        model), outputs [C2, C3, C4, C5], each [batch, ceil(H / stride), ceil(W / stride), channels].
    strides: stride of each output, e.g. (4, 8, 16, 32); each twice the one before (the FPN upsamples by 2).
        The anchors follow them (mrcnn.modeling.graph.pyramid_strides; Config.BACKBONE_STRIDES must agree).
    channels: channel count of each output.
    stage_patterns: {stage: regex} matching (re.fullmatch) the layer names of `model` in each stage
        2..5; the stem matches none. Used for matterport's `train(layers="3+")`.
    name: registry name (or the builder's name).
    weights_file: the .h5 file the weights were loaded from, or None (random initialisation).
    tap_names: the names C2..C5 get in the Mask R-CNN graph (identity layers after `model`), so that
        `keras_model.get_layer(name)` finds them: matterport's `res2c_out`, `res3d_out`, `res4f_out` (ResNet-50)
        or `res4w_out` (ResNet-101), `res5c_out` on ResNet; by default `c2_out` ... `c5_out`.
    """

    model: keras.Model
    strides: tuple
    channels: tuple
    stage_patterns: dict
    name: str
    weights_file: str = None
    tap_names: tuple = None

    def __post_init__(self):
        self.strides = tuple(int(s) for s in self.strides)
        self.channels = tuple(int(c) for c in self.channels)
        outputs = len(self.model.outputs)
        self.tap_names = tuple(self.tap_names or (f"c{i + 2}_out" for i in range(outputs)))
        if not len(self.strides) == len(self.channels) == len(self.tap_names) == outputs:
            raise ValueError(
                f"Backbone {self.name!r}: model has {outputs} outputs but {len(self.strides)} strides, "
                f"{len(self.channels)} channels and {len(self.tap_names)} tap names; give one of each per output"
            )
        for stage, pattern in self.stage_patterns.items():
            try:
                re.compile(pattern)
            except re.error as err:
                raise ValueError(f"Backbone {self.name!r}: stage_patterns[{stage}] is not a regex: {err}") from None

    def trainable_pattern(self, first_stage):
        """One regex matching the layers of stages >= first_stage, e.g. 3 for matterport's "3+"."""
        parts = [f"(?:{p})" for stage, p in sorted(self.stage_patterns.items()) if stage >= first_stage]
        if not parts:
            raise ValueError(f"Backbone {self.name!r} has no stage >= {first_stage}: {sorted(self.stage_patterns)}")
        return "|".join(parts)


class UnknownBackboneError(KeyError):
    """No backbone is registered under this name."""

    def __str__(self):  # KeyError would print the message with quotes around it.
        return str(self.args[0])


def register_backbone(name, builder=None):
    """Register `builder` under `name`; usable as `@register_backbone(name)` or a plain call.

    Returns the builder unchanged. A name can be registered only once.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"Backbone name must be a non-empty string, got {name!r}")

    def add(fn):
        if not callable(fn):
            raise TypeError(f"Backbone builder for {name!r} must be callable, got {type(fn).__name__}")
        if name in _REGISTRY:
            raise ValueError(f"A backbone named {name!r} is already registered ({_REGISTRY[name].__module__})")
        _REGISTRY[name] = fn
        return fn

    return add if builder is None else add(builder)


def list_backbones():
    """Sorted registered names."""
    return sorted(_REGISTRY)


def _lookup(name_or_callable):
    if isinstance(name_or_callable, str):
        if name_or_callable not in _REGISTRY:
            raise UnknownBackboneError(
                f"Unknown backbone {name_or_callable!r}. Registered backbones: {', '.join(list_backbones())}. "
                "Register a new one with @mrcnn.backbones.register_backbone(name) or pass a builder callable."
            )
        return name_or_callable, _REGISTRY[name_or_callable]
    if callable(name_or_callable):
        return getattr(name_or_callable, "__name__", repr(name_or_callable)), name_or_callable
    raise TypeError(f"Backbone must be a registered name or a builder callable, got {type(name_or_callable).__name__}")


def build_backbone(name_or_callable, input_shape=(None, None, 3), weights=None, train_bn=False, **options):
    """Build a `Backbone` from a registered name or a builder callable.

    input_shape: (H, W, 3); None for any size. weights: None, "imagenet" or a path to an .h5 file.
    train_bn: False freezes every BatchNormalization layer (trainable=False, inference mode).
    options: builder-specific, e.g. alpha=0.75 for "mobilenet_v1".
    """
    label, builder = _lookup(name_or_callable)
    kwargs = dict(input_shape=tuple(input_shape), weights=weights, train_bn=train_bn, **options)
    try:
        inspect.signature(builder).bind(**kwargs)
    except TypeError as err:
        raise TypeError(f"Backbone {label!r} cannot take these arguments ({err}); options given: {options}") from None
    except ValueError:  # Builtins and some callables have no signature; let the call itself report.
        pass
    backbone = builder(**kwargs)
    if not isinstance(backbone, Backbone):
        raise TypeError(
            f"Backbone builder {label!r} returned {type(backbone).__name__}; it must return "
            "mrcnn.backbones.Backbone(model, strides, channels, stage_patterns, name, weights_file)"
        )
    return backbone
