"""The MobileNetV3 backbone (mrcnn/backbones/mobilenet_v3.py): taps, names, input range, ImageNet file, detect().

The shared harness in test_backbones.py also runs on it (outputs, config round trip, BatchNorm, stages).
"""

import keras
import numpy as np
import pytest
from tiny import TinyInferenceConfig, shapes

from mrcnn.backbones import build_backbone
from mrcnn.backbones import weights as weights_module
from mrcnn.inference.results import check_result
from mrcnn.weights import h5 as weights_io


@pytest.mark.parametrize(
    "size, minimalistic, channels",
    [("large", False, (24, 40, 112, 960)), ("small", False, (16, 24, 48, 576)), ("small", True, (16, 24, 48, 576))],
)
def test_taps_have_strides_4_to_32(size, minimalistic, channels):
    backbone = build_backbone("mobilenet_v3", size=size, minimalistic=minimalistic)
    assert backbone.channels == channels and backbone.strides == (4, 8, 16, 32)
    probe = keras.Model(backbone.model.input, [layer.output for layer in backbone.model.layers[1:]])
    outputs = probe.predict(np.zeros((1, 128, 64, 3), "float32"), verbose=0)
    stride = {layer.name: 128 // out.shape[1] for layer, out in zip(backbone.model.layers[1:], outputs)}
    assert [stride[name] for name in backbone.model.output_names] == [4, 8, 16, 32]
    spatial = [s for name, s in stride.items() if not any(k in name for k in ("squeeze_excite", "pad"))]
    assert spatial == sorted(spatial) and spatial[-1] == 32  # Stages in order; C5 is the last layer.


def test_activations_get_stable_names():
    first = [layer.name for layer in build_backbone("mobilenet_v3", size="small").model.layers]
    second = [layer.name for layer in build_backbone("mobilenet_v3", size="small").model.layers]
    assert first == second and len(set(first)) == len(first)
    assert "conv_act" in first and "expanded_conv_squeeze_excite_conv_1_act" in first
    assert not any(name.startswith(("re_lu", "activation", "rescaling")) for name in first)


def test_takes_raw_pixels_like_the_other_backbones():
    """No Rescaling of keras.applications' own: the shared [-1, 1] normalisation is the only one."""
    model = build_backbone("mobilenet_v3", size="small").model
    assert not [layer for layer in model.layers if isinstance(layer, keras.layers.Rescaling)]
    normalize = model.get_layer("normalize_input")
    np.testing.assert_allclose(np.asarray(normalize(np.array([[[[0.0, 127.5, 255.0]]]], "float32"))), [[[[-1, 0, 1]]]])


def test_imagenet_resolves_to_a_local_file(monkeypatch, tmp_path):
    monkeypatch.setenv("MRCNN_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(weights_module, "SHARED_WEIGHTS_DIR", tmp_path / "none")
    monkeypatch.setattr(weights_module, "KERAS_CACHE_DIR", tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"):
        build_backbone("mobilenet_v3", size="small", weights="imagenet")
    source = build_backbone("mobilenet_v3", size="small")
    kernel = source.model.get_layer("expanded_conv_3_expand")
    kernel.set_weights([np.full(w.shape, 0.5, "float32") for w in kernel.get_weights()])
    weights_io.save(source.model, tmp_path / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5")
    loaded = build_backbone("mobilenet_v3", size="small", weights="imagenet")
    assert loaded.weights_file == str(tmp_path / "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5")
    np.testing.assert_array_equal(loaded.model.get_layer("expanded_conv_3_expand").get_weights()[0], 0.5)
    with pytest.raises(ValueError, match="No ImageNet weights exist for mobilenet_v3"):
        build_backbone("mobilenet_v3", weights="imagenet", alpha=0.5)
    with pytest.raises(ValueError, match="size must be one of large, small"):
        build_backbone("mobilenet_v3", size="medium")


def test_tiny_inference_model_detects(tmp_path):
    from mrcnn.model import MaskRCNN

    config = TinyInferenceConfig(BACKBONE="mobilenet_v3", BACKBONE_OPTIONS={"size": "small", "alpha": 0.75})
    model = MaskRCNN("inference", config, str(tmp_path))
    assert model.backbone.name == "mobilenet_v3" and model.backbone.channels == (16, 24, 40, 432)
    image = shapes(1).load_image(0)
    result = check_result(model.detect([image])[0], image.shape)
    assert len(result["class_ids"]) > 0  # DETECTION_MIN_CONFIDENCE 0: random weights still fill slots
