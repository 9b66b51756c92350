"""Gradient scaling: a backbone learning-rate multiplier as an identity layer."""

import keras
from keras import layers


@keras.saving.register_keras_serializable(package="mrcnn")
class GradientScale(layers.Layer):
    """Identity forward; multiplies the gradient flowing back by `scale` (a backbone learning-rate multiplier)."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        return x * self.scale + keras.ops.stop_gradient(x * (1.0 - self.scale))

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}
