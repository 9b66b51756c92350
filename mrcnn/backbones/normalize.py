"""In-graph input normalisation, so every backbone takes raw RGB pixels in [0, 255]."""

import keras
from keras import ops

# keras.applications "caffe" preprocessing (ResNet): BGR order, ImageNet mean removed, no scaling.
IMAGENET_MEAN_RGB = (123.68, 116.779, 103.939)


@keras.saving.register_keras_serializable(package="mrcnn")
class PixelNormalization(keras.layers.Layer):
    """`(images - mean) / std`, per RGB channel, then optionally reversed to BGR.

    images: [batch, H, W, 3] float RGB in [0, 255] -> [batch, H, W, 3] in the backbone's range.
    `mean` and `std` are given in RGB order (the input order), whatever `channel_order` is.
    Images of another channel count (Config.IMAGE_CHANNEL_COUNT: grayscale, RGB + infrared, ...) get the
    average of the three stds on every channel, and a mean per channel when `mean` has one value per image
    channel (a Config.MEAN_PIXEL of that length), else the average of the three means.
    """

    def __init__(self, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), channel_order="rgb", **kwargs):
        super().__init__(**kwargs)
        if channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        if len(mean) < 1 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"mean needs a value per channel, std 3 values > 0; got mean={mean}, std={std}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.channel_order = channel_order

    def call(self, images):
        x = ops.cast(images, self.compute_dtype)
        channels = x.shape[-1]
        if len(self.mean) not in (3, channels):
            raise ValueError(f"{len(self.mean)} mean values for {channels}-channel images")
        mean = ops.convert_to_tensor(self.mean if len(self.mean) == channels else [sum(self.mean) / 3], x.dtype)
        if channels != 3:
            return (x - mean) / (sum(self.std) / 3)
        x = (x - mean) / ops.convert_to_tensor(self.std, x.dtype)
        return ops.flip(x, axis=-1) if self.channel_order == "bgr" else x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std, "channel_order": self.channel_order}


def caffe_normalization(name="normalize_input"):
    """ResNet ("caffe") preprocessing: RGB -> BGR, minus the ImageNet mean."""
    return PixelNormalization(IMAGENET_MEAN_RGB, (1.0, 1.0, 1.0), "bgr", name=name)


def symmetric_normalization(name="normalize_input"):
    """MobileNet ("tf") preprocessing: x / 127.5 - 1, into [-1, 1]."""
    return PixelNormalization((127.5,) * 3, (127.5,) * 3, "rgb", name=name)


def use_mean_pixel(model, mean):
    """Make the input normalisation of backbone `model` subtract `mean` (Config.MEAN_PIXEL) instead of its own.

    The backbone's scale and channel order stay: MobileNet gets (x - mean) / 127.5, ResNet BGR(x - mean).
    `mean` has 3 values (RGB) or one per image channel. Called before the model first runs.
    """
    layers = [layer for layer in model.layers if isinstance(layer, PixelNormalization)]
    if len(layers) != 1:
        raise ValueError(
            f"backbone {model.name!r} has {len(layers)} PixelNormalization layers, not one: a MEAN_PIXEL other "
            "than the default needs a backbone that normalises its input with one (mrcnn/backbones/normalize.py)"
        )
    layers[0].mean = tuple(float(m) for m in mean)
