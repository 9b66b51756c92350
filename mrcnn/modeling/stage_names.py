"""matterport's ResNet block names (`res2c_out`, `res3c_out`, `res4w_out`, ...) on any backbone.

matterport's inspect notebooks read `keras_model.get_layer("res3c_out").output` to show backbone activations.
Here a backbone's stage outputs C2..C5 are layers of the graph (`res2c_out`, `res3d_out`, `res4f_out` /
`res4w_out`, `res5c_out` on ResNet, `c2_out` ... `c5_out` otherwise); the blocks inside a stage belong to the
nested backbone model, whose tensors the outer graph cannot return. So a ResNet block name that is not a layer
here gives the output of its stage, with a warning naming the layer it took.
"""

import re
import warnings

_RESNET_BLOCK = re.compile(r"res([2-5])[a-z]+_out")


class MatterportStageNames:
    """Keras model mixin: `get_layer(name)` falls back from a ResNet block name to its stage's output layer."""

    def get_layer(self, name=None, index=None):
        try:
            return super().get_layer(name, index)
        except ValueError:
            match = _RESNET_BLOCK.fullmatch(name) if isinstance(name, str) else None
            if not match:
                raise
            stage = match.group(1)
            tap = re.compile(rf"(res{stage}[a-z]+|c{stage})_out")
            taps = [layer for layer in self.layers if tap.fullmatch(layer.name)]
            if not taps:
                raise
        warnings.warn(
            f"{name!r} is not a layer of this model: using {taps[0].name!r}, the output of backbone stage {stage} "
            f"(C{stage}); the blocks inside a stage are layers of the nested backbone model only",
            stacklevel=2,
        )
        return taps[0]
