"""Turn a keras.applications constructor into a `Backbone` (normalise, tap C2..C5, weights, BN freezing)."""

import warnings

import keras

from mrcnn.weights import h5 as weights_io

from .registry import Backbone
from .weights import resolve_weights


def freeze_batch_norm(model, train_bn):
    """Set `trainable = train_bn` on every BatchNormalization layer (frozen BN runs in inference mode)."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = bool(train_bn)


def from_application(
    application,
    *,
    name,
    taps,
    strides,
    stage_patterns,
    normalization,
    input_shape,
    weights,
    imagenet_file,
    train_bn,
    tap_names=None,
    **app_options,
):
    """Build `application(include_top=False, ...)` on normalised raw pixels and tap its C2..C5 layers.

    application: a keras.applications constructor, e.g. keras.applications.ResNet50.
    taps: layer names of C2..C5 in `application`; strides: their strides; tap_names: see Backbone.
    normalization: a layer mapping raw RGB [0, 255] to the application's input range.
    weights: None, "imagenet" (looked up offline as `imagenet_file`) or an .h5 path, loaded by layer name.
    app_options: passed on to `application`, e.g. alpha=0.75.
    """
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or not isinstance(input_shape[-1], int) or input_shape[-1] < 1:
        raise ValueError(f"{name}: input_shape must be (H, W, C) with H, W an int or None, got {input_shape}")
    owner = f"{name} with options {app_options}" if app_options else name
    weights_file = resolve_weights(weights, imagenet_file, owner)  # Fail before the (slow) build.
    image = keras.Input(shape=input_shape, name="backbone_image")
    with warnings.catch_warnings():  # keras.applications warns about channel counts other than 1 or 3
        warnings.filterwarnings("ignore", message=r"This model usually expects 1 or 3 input channels")
        body = application(
            include_top=False, weights=None, input_tensor=normalization(image), input_shape=input_shape, **app_options
        )
    features = [body.get_layer(tap).output for tap in taps]
    model = keras.Model(image, features, name=name)
    if weights_file is not None:
        weights_io.load(model, weights_file, strict=True)
    freeze_batch_norm(model, train_bn)
    channels = [feature.shape[-1] for feature in features]
    return Backbone(model, strides, channels, dict(stage_patterns), name, weights_file, tap_names)
