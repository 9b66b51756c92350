"""ImageNet (RGB) first-conv kernels for models with another IMAGE_CHANNEL_COUNT.

A model built for C input channels has a first convolution with kernel [kh, kw, C, out]; the ImageNet file has
[kh, kw, 3, out]. Rather than drop those weights, they are adapted:
- C = 1 (grayscale): the sum over the three colour kernels. A gray image is R = G = B, so this gives the RGB
  network's response to the same image (up to the small per-channel mean differences of caffe normalisation).
- C = 2 or C > 3: the RGB kernels repeated over the channels (R, G, B, R, ...) and scaled by 3 / C, so the
  first activations keep the magnitude the rest of the network was trained on.
"""

import numpy as np

RGB = 3


def adapt_input_channels(kernel, channels):
    """An RGB conv kernel [kh, kw, 3, out] for `channels` input channels (see the module doc)."""
    kernel = np.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[2] != RGB:
        raise ValueError(f"expected an RGB conv kernel [kh, kw, 3, out], got shape {kernel.shape}")
    if channels == RGB:
        return kernel
    if channels == 1:
        return kernel.sum(axis=2, keepdims=True)
    repeated = kernel[:, :, [i % RGB for i in range(channels)], :]
    return repeated * (RGB / channels)


def adapted_arrays(arrays, expected):
    """`arrays` (a layer's stored weights) adapted to the `expected` shapes when the only difference is an RGB
    kernel's input-channel axis (the first conv of a model with IMAGE_CHANNEL_COUNT != 3); else None."""
    if len(arrays) != len(expected) or not arrays:
        return None
    kernel, shape = np.asarray(arrays[0]), tuple(expected[0])
    others_match = all(tuple(a.shape) == tuple(e) for a, e in zip(arrays[1:], expected[1:]))
    if not (others_match and kernel.ndim == 4 and len(shape) == 4 and kernel.shape[2] == RGB):
        return None
    if kernel.shape[:2] + kernel.shape[3:] != shape[:2] + shape[3:]:
        return None
    return [adapt_input_channels(kernel, shape[2]), *arrays[1:]]
