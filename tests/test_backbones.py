"""Backbone registry: one shared harness over every registered backbone, plus registry and weights tests."""

import math
import re
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from mrcnn import backbones
from mrcnn.backbones import (
    Backbone,
    PixelNormalization,
    UnknownBackboneError,
    build_backbone,
    list_backbones,
    register_backbone,
    registry,
)
from mrcnn.backbones import weights as weights_module
from mrcnn.weights import h5 as weights_io

HEIGHT, WIDTH = 96, 128
SHARED = weights_module.SHARED_WEIGHTS_DIR
V1_FILES = {0.25: "mobilenet_2_5_224_tf_no_top.h5", 0.75: "mobilenet_7_5_224_tf_no_top.h5"}


@pytest.fixture(scope="module")
def cache():
    return {}


def built(cache, name, train_bn=False):
    """Each backbone is built once per module and setting (ResNet-101 takes seconds)."""
    key = (name, train_bn)
    if key not in cache:
        cache[key] = build_backbone(name, train_bn=train_bn)
    return cache[key]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).uniform(0, 255, (2, HEIGHT, WIDTH, 3)).astype("float32")


@pytest.fixture
def isolated_registry(monkeypatch):
    """User registrations made in a test vanish after it."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))


def weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


# ---------------------------------------------------------------- shared harness over the registry


def test_builtin_names_are_registered():
    assert {"resnet50", "resnet101", "mobilenet_v1", "mobilenet_v2"} <= set(list_backbones())


@pytest.mark.parametrize("name", list_backbones())
def test_outputs_match_strides_and_channels(cache, images, name):
    backbone = built(cache, name)
    outputs = backbone.model.predict(images, verbose=0)
    assert len(outputs) == 4 and backbone.strides == (4, 8, 16, 32)
    for output, stride, channels in zip(outputs, backbone.strides, backbone.channels):
        assert output.shape == (2, math.ceil(HEIGHT / stride), math.ceil(WIDTH / stride), channels)
        assert np.isfinite(output).all()
    assert backbone.name == name and backbone.weights_file is None


@pytest.mark.parametrize("name", list_backbones())
def test_config_round_trip(cache, images, name):
    model = built(cache, name).model
    clone = keras.Model.from_config(model.get_config())
    clone.set_weights(model.get_weights())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert isinstance(clone.get_layer("normalize_input"), PixelNormalization)
    for expected, got in zip(model(images[:1]), clone(images[:1])):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list_backbones())
def test_batchnorm_frozen_by_default(cache, images, name):
    model = built(cache, name).model
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and not any(layer.trainable for layer in norms)
    assert all(layer.trainable for layer in weighted_layers(model) if layer not in norms)
    # Frozen BN runs in inference mode even with training=True.
    train_out = model(images[:1], training=True)[-1]
    infer_out = model(images[:1], training=False)[-1]
    np.testing.assert_allclose(np.asarray(train_out), np.asarray(infer_out), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list_backbones())
def test_train_bn_makes_batchnorm_trainable(cache, images, name):
    model = built(cache, name, train_bn=True).model
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert norms and all(layer.trainable for layer in norms)
    train_out = np.asarray(model(images, training=True)[0])
    infer_out = np.asarray(model(images, training=False)[0])
    assert np.abs(train_out - infer_out).max() > 1e-3  # Batch statistics are used in training.


@pytest.mark.parametrize("name", list_backbones())
def test_stage_patterns_partition_the_layers(cache, name):
    backbone = built(cache, name)
    model = backbone.model
    assert sorted(backbone.stage_patterns) == [2, 3, 4, 5]
    names = [layer.name for layer in model.layers]
    stages = {n: [s for s, p in backbone.stage_patterns.items() if re.fullmatch(p, n)] for n in names}
    assert all(len(found) <= 1 for found in stages.values()), {n: s for n, s in stages.items() if len(s) > 1}
    for stage in backbone.stage_patterns:
        assert any(stages[layer.name] == [stage] for layer in weighted_layers(model)), stage
    # The stem (no stage) comes first; everything after the first stage-2 layer is in some stage.
    first = next(i for i, n in enumerate(names) if stages[n] == [2])
    assert all(stages[n] for n in names[first:])
    # Stage k ends at tap C_k, and "3+" leaves stage 2 out.
    for stage, tap in zip((2, 3, 4, 5), model.output_names):
        assert stages[tap] == [stage], (tap, stage)
    three_plus = backbone.trainable_pattern(3)
    assert not any(re.fullmatch(three_plus, n) for n in names[: first + 1])
    assert re.fullmatch(three_plus, model.output_names[1])


# ---------------------------------------------------------------- normalisation layer


def test_pixel_normalization_values_and_config():
    caffe = backbones.normalize.caffe_normalization()
    pixels = np.array([[[[123.68, 116.779, 103.939], [255.0, 0.0, 0.0]]]], "float32")
    out = np.asarray(caffe(pixels))
    np.testing.assert_allclose(out[0, 0, 0], 0.0, atol=1e-4)
    np.testing.assert_allclose(out[0, 0, 1], [-103.939, -116.779, 255.0 - 123.68], atol=1e-4)  # BGR
    symmetric = backbones.normalize.symmetric_normalization()
    np.testing.assert_allclose(np.asarray(symmetric(np.array([[[[0.0, 127.5, 255.0]]]], "float32"))), [[[[-1, 0, 1]]]])
    clone = PixelNormalization.from_config(caffe.get_config())
    assert (clone.mean, clone.std, clone.channel_order) == (caffe.mean, caffe.std, "bgr")
    with pytest.raises(ValueError, match="channel_order"):
        PixelNormalization(channel_order="bgra")


# ---------------------------------------------------------------- registry


def tiny_builder(input_shape=(None, None, 3), weights=None, train_bn=False, width=4):
    image = keras.Input(input_shape, name="tiny_image")
    x, features = image, []
    for stage, strides in zip((2, 3, 4, 5), (4, 2, 2, 2)):
        x = keras.layers.Conv2D(width * stage, 3, strides=strides, padding="same", name=f"tiny{stage}_conv")(x)
        features.append(x)
    model = keras.Model(image, features, name="tiny")
    patterns = {stage: rf"tiny{stage}_\w+" for stage in (2, 3, 4, 5)}
    return Backbone(model, (4, 8, 16, 32), [width * s for s in (2, 3, 4, 5)], patterns, "tiny", weights)


def test_register_as_decorator_and_as_call(isolated_registry):
    assert register_backbone("tiny_call", tiny_builder) is tiny_builder

    @register_backbone("tiny_decorated")
    def decorated(input_shape=(None, None, 3), weights=None, train_bn=False):
        return tiny_builder(input_shape, weights, train_bn, width=2)

    assert {"tiny_call", "tiny_decorated"} <= set(list_backbones())
    backbone = build_backbone("tiny_call", input_shape=(32, 32, 3), width=8)
    assert backbone.channels == (16, 24, 32, 40)
    assert tuple(backbone.model.outputs[0].shape) == (None, 8, 8, 16)
    assert build_backbone("tiny_decorated").channels == (4, 6, 8, 10)


def test_callable_is_built_directly_and_checked():
    backbone = build_backbone(tiny_builder, input_shape=(64, 64, 3), width=1)
    assert isinstance(backbone, Backbone) and backbone.channels == (2, 3, 4, 5)
    assert [tuple(o.shape[1:3]) for o in backbone.model.outputs] == [(16, 16), (8, 8), (4, 4), (2, 2)]
    with pytest.raises(TypeError, match="must return mrcnn.backbones.Backbone"):
        build_backbone(lambda input_shape, weights, train_bn: keras.Sequential())
    with pytest.raises(TypeError, match="registered name or a builder callable"):
        build_backbone(42)


def test_duplicate_name_raises(isolated_registry):
    register_backbone("tiny_once", tiny_builder)
    with pytest.raises(ValueError, match="already registered"):
        register_backbone("tiny_once", tiny_builder)
    with pytest.raises(ValueError, match="'resnet50' is already registered"):
        register_backbone("resnet50")(tiny_builder)


def test_unknown_name_lists_registered_names():
    with pytest.raises(KeyError) as info:
        build_backbone("resnet152")
    assert isinstance(info.value, UnknownBackboneError)
    message = str(info.value)
    assert "'resnet152'" in message and all(name in message for name in list_backbones())


def test_unknown_option_names_the_backbone():
    with pytest.raises(TypeError, match="'resnet50' cannot take.*alpha"):
        build_backbone("resnet50", alpha=0.5)


def test_backbone_checks_its_metadata():
    model = tiny_builder().model
    with pytest.raises(ValueError, match="4 outputs but 3 strides"):
        Backbone(model, (4, 8, 16), (1, 2, 3, 4), {}, "bad")
    with pytest.raises(ValueError, match=r"stage_patterns\[2\] is not a regex"):
        Backbone(model, (4, 8, 16, 32), (1, 2, 3, 4), {2: "conv(["}, "bad")


# ---------------------------------------------------------------- weights


@pytest.fixture
def no_weight_dirs(monkeypatch, tmp_path):
    """Every search folder empty: $MRCNN_WEIGHTS_DIR, shared/weights and ~/.keras/models."""
    dirs = [tmp_path / "env", tmp_path / "shared", tmp_path / "keras"]
    for folder in dirs:
        folder.mkdir()
    monkeypatch.setenv("MRCNN_WEIGHTS_DIR", str(dirs[0]))
    monkeypatch.setattr(weights_module, "SHARED_WEIGHTS_DIR", dirs[1])
    monkeypatch.setattr(weights_module, "KERAS_CACHE_DIR", dirs[2])
    return dirs


@pytest.mark.parametrize(
    "name, options, file_name",
    [
        ("resnet50", {}, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        ("resnet101", {}, "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
        ("mobilenet_v1", {"alpha": 1.0}, "mobilenet_1_0_224_tf_no_top.h5"),
        ("mobilenet_v2", {"alpha": 0.35}, "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"),
    ],
)
def test_missing_imagenet_file_says_where_it_looked(no_weight_dirs, name, options, file_name):
    with pytest.raises(FileNotFoundError) as info:
        build_backbone(name, weights="imagenet", **options)
    message = str(info.value)
    assert file_name in message
    assert all(str(folder) in message for folder in no_weight_dirs)
    assert "MRCNN_WEIGHTS_DIR" in message and "weights=None" in message and "path" in message


def test_search_order_prefers_the_env_folder(no_weight_dirs):
    for folder in no_weight_dirs[1:]:
        (folder / "w.h5").write_bytes(b"")
    assert weights_module.find_weights_file("w.h5") == no_weight_dirs[1] / "w.h5"
    (no_weight_dirs[0] / "w.h5").write_bytes(b"")
    assert weights_module.find_weights_file("w.h5") == no_weight_dirs[0] / "w.h5"
    assert weights_module.weights_search_dirs() == no_weight_dirs


def test_default_search_folders(monkeypatch):
    monkeypatch.delenv("MRCNN_WEIGHTS_DIR", raising=False)
    dirs = weights_module.weights_search_dirs()
    assert dirs == [Path(__file__).resolve().parents[2] / "shared" / "weights", Path.home() / ".keras" / "models"]


def test_bad_weights_arguments(tmp_path):
    with pytest.raises(ValueError, match="No ImageNet weights exist for mobilenet_v1.*alpha.*0.3"):
        build_backbone("mobilenet_v1", weights="imagenet", alpha=0.3)
    with pytest.raises(FileNotFoundError, match="nothing.h5"):
        build_backbone("mobilenet_v1", weights=str(tmp_path / "nothing.h5"))
    with pytest.raises(TypeError, match="weights must be None, 'imagenet' or a path"):
        build_backbone("mobilenet_v1", weights=3)


def test_keras3_weights_file_is_refused_clearly(tmp_path):
    backbone = build_backbone(tiny_builder, input_shape=(32, 32, 3))
    path = tmp_path / "tiny.weights.h5"
    with h5py.File(path, "w") as f:  # Keras 3 layout: layers/<name>/vars/<index>, no layer_names.
        f.create_dataset("layers/tiny2_conv/vars/0", data=np.zeros((3, 3, 3, 8), "float32"))
    with pytest.raises(weights_io.WeightsFileError, match="not in the legacy layer-name layout"):
        weights_io.load(backbone.model, path, strict=True)


def assert_model_equals_h5(model, path):
    """Every weighted layer equals the file's group of the same name, tensor by tensor."""
    with h5py.File(path, "r") as f:
        for layer in weighted_layers(model):
            names = [n.decode() if isinstance(n, bytes) else n for n in f[layer.name].attrs["weight_names"]]
            stored = [np.asarray(f[layer.name][n]) for n in names]
            assert len(stored) == len(layer.weights), layer.name
            for variable, array in zip(layer.weights, stored):
                np.testing.assert_array_equal(np.asarray(variable), array, err_msg=layer.name)
    return len(weighted_layers(model))


@pytest.mark.parametrize("alpha", sorted(V1_FILES))
def test_shipped_mobilenet_v1_imagenet_weights_load(monkeypatch, alpha):
    path = SHARED / V1_FILES[alpha]
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    monkeypatch.delenv("MRCNN_WEIGHTS_DIR", raising=False)
    backbone = build_backbone("mobilenet_v1", weights="imagenet", alpha=alpha)
    assert Path(backbone.weights_file) == path
    assert assert_model_equals_h5(backbone.model, path) == 54  # 27 convolutions + 27 BatchNorms.
    variance = np.asarray(backbone.model.get_layer("conv_pw_13_bn").moving_variance)
    assert not np.allclose(variance, 1.0)  # Trained statistics, not the initial ones.
    assert not any(
        layer.trainable for layer in backbone.model.layers if isinstance(layer, keras.layers.BatchNormalization)
    )


def test_weights_path_loads_by_name_and_checks_shapes():
    path = SHARED / V1_FILES[0.25]
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    backbone = build_backbone("mobilenet_v1", input_shape=(64, 64, 3), weights=str(path), alpha=0.25)
    assert backbone.weights_file == str(path)
    assert assert_model_equals_h5(backbone.model, path) == 54
    with pytest.raises(weights_io.WeightsFileError, match=r"conv1: model \[\(3, 3, 3, 16\)\]"):
        build_backbone("mobilenet_v1", weights=str(path), alpha=0.5)
