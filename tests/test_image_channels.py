"""IMAGE_CHANNEL_COUNT other than 3: grayscale and N-channel input, with ImageNet-style first-conv weights adapted."""

import numpy as np
import pytest

from mrcnn.config import Config
from mrcnn.data.images import channel_array
from mrcnn.inference.mold import ImageError, check_image
from mrcnn.weights.channels import adapt_input_channels, adapted_arrays


def test_gray_kernel_is_the_sum_so_a_gray_image_gets_the_rgb_response():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 3, 5))
    gray = rng.uniform(0, 255, size=(3, 3))
    rgb_response = np.einsum("hwc,hwco->o", np.repeat(gray[..., None], 3, -1), kernel)
    gray_response = np.einsum("hwc,hwco->o", gray[..., None], adapt_input_channels(kernel, 1))
    np.testing.assert_allclose(gray_response, rgb_response)


def test_more_channels_repeat_rgb_scaled_by_3_over_c():
    kernel = np.arange(2 * 2 * 3 * 1, dtype=np.float64).reshape(2, 2, 3, 1)
    five = adapt_input_channels(kernel, 5)
    assert five.shape == (2, 2, 5, 1)
    np.testing.assert_allclose(five[:, :, 3], kernel[:, :, 0] * 3 / 5)
    np.testing.assert_allclose(five[:, :, 4], kernel[:, :, 1] * 3 / 5)
    assert adapt_input_channels(kernel, 3) is kernel
    with pytest.raises(ValueError, match=r"RGB conv kernel"):
        adapt_input_channels(kernel[:, :, :2], 1)


def test_adapted_arrays_only_for_an_input_channel_difference():
    kernel, bias = np.ones((7, 7, 3, 8)), np.zeros(8)
    out = adapted_arrays([kernel, bias], [(7, 7, 1, 8), (8,)])
    assert out[0].shape == (7, 7, 1, 8) and out[0].max() == 3 and out[1] is bias
    assert adapted_arrays([kernel, bias], [(7, 7, 3, 16), (16,)]) is None  # other widths: a real mismatch
    assert adapted_arrays([kernel, bias], [(5, 5, 1, 8), (8,)]) is None
    assert adapted_arrays([np.ones((3, 8))], [(1, 8)]) is None  # not a conv kernel


def test_channel_array_gray_from_colour_and_refusal():
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 1] = 200
    gray = channel_array(rgb, 1)
    assert gray.shape == (4, 4, 1) and gray[0, 0, 0] == round(0.587 * 200)
    assert channel_array(np.full((4, 4), 9, np.uint8), 1).shape == (4, 4, 1)
    assert channel_array(np.zeros((4, 4, 4), np.uint8), 4).shape == (4, 4, 4)
    with pytest.raises(ValueError, match=r"takes 4 channel\(s\) .* but the image has 3; return that many"):
        channel_array(rgb, 4)
    with pytest.raises(ImageError, match=r"images\[0\]: the model takes 2 channel"):
        check_image(rgb, where="images[0]", channels=2)


def test_config_accepts_other_channel_counts():
    assert Config(IMAGE_CHANNEL_COUNT=1).IMAGE_SHAPE.tolist() == [1024, 1024, 1]


@pytest.mark.parametrize("channels", [1, 4])
def test_model_detects_and_loads_rgb_backbone_weights(tmp_path, channels):
    """A C-channel model: the RGB backbone's weights load (first conv adapted), and detect() runs on C channels."""
    from mrcnn.backbones import build_backbone
    from mrcnn.model import MaskRCNN
    from mrcnn.weights import h5 as weights_io

    options = dict(alpha=0.25)
    rgb = build_backbone("mobilenet_v1", **options)
    path = tmp_path / "rgb_backbone.h5"
    weights_io.save(rgb.model, path)
    config = Config(
        NAME="channels",
        BACKBONE="mobilenet_v1",
        BACKBONE_OPTIONS=options,
        NUM_CLASSES=2,
        IMAGE_MIN_DIM=64,
        IMAGE_MAX_DIM=64,
        IMAGE_CHANNEL_COUNT=channels,
        IMAGES_PER_GPU=1,
        TOP_DOWN_PYRAMID_SIZE=32,
        RPN_CONV_CHANNELS=32,
        FPN_CLASSIF_FC_LAYERS_SIZE=32,
        MASK_HEAD_CHANNELS=16,
        POST_NMS_ROIS_INFERENCE=20,
        DETECTION_MIN_CONFIDENCE=0.0,
        PRECISION="float32",
    )
    model = MaskRCNN("inference", config, str(tmp_path))
    model.load_weights(str(path), by_name=True)
    assert model.load_report["adapted"] == ["conv1"]
    stored = rgb.model.get_layer("conv1").get_weights()[0]
    loaded = model.backbone.model.get_layer("conv1").get_weights()[0]
    np.testing.assert_allclose(loaded, adapt_input_channels(stored, channels), rtol=1e-6)
    image = np.random.default_rng(0).integers(0, 255, (48, 40, channels), dtype=np.uint8)
    result = model.detect([image])[0]
    assert result["masks"].shape[:2] == (48, 40)
    if channels == 1:  # an RGB photo is read as gray for a 1-channel model
        assert model.detect([np.repeat(image, 3, axis=-1)])[0]["rois"].shape[1] == 4
    else:
        with pytest.raises(ImageError, match="takes 4 channel"):
            model.detect([image[..., :3]])


def test_grayscale_model_trains_from_an_rgb_dataset(tmp_path):
    """IMAGE_CHANNEL_COUNT = 1 with a Dataset whose load_image gives RGB: the images are read as gray and train."""
    import math

    from tiny import TinyConfig, shapes

    from mrcnn import model as modellib

    config = TinyConfig(STEPS_PER_EPOCH=1, IMAGE_CHANNEL_COUNT=1)
    model = modellib.MaskRCNN("training", config, tmp_path)
    assert model.keras_model.get_layer("image").output.shape[-1] == 1
    history = model.train(shapes(count=2), None, learning_rate=0.001, epochs=1, layers="all")
    assert all(math.isfinite(v[-1]) for v in history.history.values())
