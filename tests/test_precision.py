"""Mixed precision: Config.PRECISION builds under a Keras dtype policy; geometry, heads and losses stay float32."""

import math

import keras
import numpy as np
import pytest
from tiny import TinyConfig, TinyInferenceConfig, shapes

from mrcnn import model as modellib
from mrcnn.config import Config, ConfigError
from mrcnn.engine import distribute


def _layer(model, name):
    for layer in model.layers:
        if layer.name == name:
            return layer
        if isinstance(layer, keras.Model):
            found = _layer(layer, name)
            if found is not None:
                return found
    return None


@pytest.fixture(scope="module")
def bfloat16_trainer(tmp_path_factory):
    keras.utils.set_random_seed(0)  # With random heads, whether a blank image gives detections depends on the draw.
    model = modellib.MaskRCNN(
        "training", TinyConfig(PRECISION="mixed_bfloat16", STEPS_PER_EPOCH=1), tmp_path_factory.mktemp("logs")
    )
    return model


def test_policy_applies_to_the_compute_heavy_layers(bfloat16_trainer):
    net = bfloat16_trainer.keras_model
    assert keras.config.dtype_policy().name == "float32"  # the global policy is untouched
    assert _layer(net, "conv_pw_3").compute_dtype == "bfloat16"  # backbone
    assert _layer(net, "fpn_p2").compute_dtype == "bfloat16"
    assert _layer(net, "rpn_conv_shared").compute_dtype == "bfloat16"
    assert _layer(net, "mrcnn_mask_conv1").compute_dtype == "bfloat16"
    assert _layer(net, "conv_pw_3").variable_dtype == "float32"
    for name in (
        "anchors",
        "ROI",
        "rpn_targets",
        "proposal_targets",
        "roi_align_classifier",
        "losses",
        "mrcnn_class_logits",
        "mrcnn_bbox",
        "mrcnn_mask",
        "rpn_class",
        "rpn_bbox",
    ):
        assert _layer(net, name).compute_dtype == "float32", name


def test_mixed_bfloat16_trains_one_step(bfloat16_trainer):
    history = bfloat16_trainer.train(shapes(2), None, learning_rate=0.001, epochs=1, layers="heads")
    assert all(math.isfinite(values[-1]) for values in history.history.values())
    assert set(history.history) >= {"loss", "rpn_class_loss", "mrcnn_mask_loss"}


def test_mixed_bfloat16_detects(bfloat16_trainer, tmp_path):
    path = tmp_path / "bf16.h5"
    bfloat16_trainer.save_weights(path)
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(PRECISION="mixed_bfloat16"), tmp_path)
    model.load_weights(path, by_name=True)
    detections, masks = model.keras_model.predict_on_batch(model.mold_inputs([shapes(1).load_image(0)])[0])
    assert detections.dtype == np.float32 and masks.dtype == np.float32
    result = model.detect([np.full((90, 70, 3), 120, np.uint8)])[0]
    assert len(result["class_ids"]) > 0 and result["masks"].shape[:2] == (90, 70)
    assert np.all(result["rois"][:, 2] <= 90) and np.all(result["rois"][:, 3] <= 70)


@pytest.mark.slow
def test_mixed_float16_scales_the_loss(tmp_path):
    model = modellib.MaskRCNN("training", TinyConfig(PRECISION="mixed_float16", STEPS_PER_EPOCH=1), tmp_path)
    history = model.train(shapes(2), None, learning_rate=0.001, epochs=1, layers="heads")
    assert isinstance(model.keras_model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert math.isfinite(history.history["loss"][-1])


def test_unknown_precision_is_a_config_error():
    with pytest.raises(ConfigError, match="PRECISION"):
        TinyConfig(PRECISION="float16")


@pytest.mark.parametrize(
    ("machine", "mode", "expected"),
    [
        ((None, True), "inference", "mixed_bfloat16"),  # AVX512_BF16 / AMX CPU
        ((None, True), "training", "float32"),  # bfloat16 training is not measured: float32
        ((None, False), "inference", "float32"),
        (((7, 0), True), "inference", "mixed_float16"),  # a GPU decides, whatever the CPU
        (((8, 6), False), "training", "mixed_float16"),
        (((6, 1), True), "inference", "float32"),
    ],
)
def test_auto_precision_follows_the_machine(monkeypatch, machine, mode, expected):
    monkeypatch.delenv(distribute.PRECISION_ENV)
    monkeypatch.setattr(distribute, "probe_machine", lambda: machine)
    assert distribute.resolve_precision("auto", mode) == expected


def test_precision_env_forces_auto_only(monkeypatch):
    monkeypatch.setattr(distribute, "probe_machine", lambda: (None, True))
    monkeypatch.setenv(distribute.PRECISION_ENV, "float32")
    assert distribute.resolve_precision("auto", "inference") == "float32"
    monkeypatch.setenv(distribute.PRECISION_ENV, " Mixed_BFloat16 ")
    assert distribute.resolve_precision("auto", "training") == "mixed_bfloat16"
    assert distribute.resolve_precision("float32", "inference") == "float32"  # an explicit value wins
    monkeypatch.setenv(distribute.PRECISION_ENV, "bf16")
    with pytest.raises(ValueError, match="MRCNN_PRECISION must be one of"):
        distribute.resolve_precision("auto", "inference")


def test_probe_reads_the_cpu_flags_and_gpu_capability(monkeypatch, tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    monkeypatch.setattr(distribute, "CPUINFO", str(cpuinfo))
    monkeypatch.setattr(distribute.tf.config, "list_physical_devices", lambda kind: [])
    for flags, bf16 in (("avx2 avx512f", False), ("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True)):
        cpuinfo.write_text(f"processor\t: 0\nflags\t\t: fpu {flags}\n\nprocessor\t: 1\nflags\t\t: fpu {flags}\n")
        assert distribute.probe_machine() == (None, bf16), flags
    cpuinfo.unlink()
    assert distribute.probe_machine() == (None, False)  # no /proc/cpuinfo (not Linux)
    details = {"gpu:0": {"compute_capability": (8, 6)}, "gpu:1": {"compute_capability": (6, 1)}}
    monkeypatch.setattr(distribute.tf.config, "list_physical_devices", lambda kind: list(details))
    monkeypatch.setattr(distribute.tf.config.experimental, "get_device_details", details.get)
    assert distribute.probe_machine() == ((6, 1), False)  # the weakest GPU decides


def test_auto_is_the_default_and_from_weights_runs_auto(monkeypatch, tmp_path):
    assert Config().PRECISION == "auto"
    old = TinyInferenceConfig(PRECISION="float32")  # a file saved before "auto" stores float32
    path = tmp_path / "old.h5"
    modellib.MaskRCNN("inference", old, tmp_path).save_weights(path)
    monkeypatch.delenv(distribute.PRECISION_ENV)
    monkeypatch.setattr(distribute, "probe_machine", lambda: (None, True))
    model = modellib.MaskRCNN.from_weights(path, tmp_path)
    assert model.config.PRECISION == "auto" and model.precision == "mixed_bfloat16"
    assert _layer(model.keras_model, "fpn_p2").compute_dtype == "bfloat16"
    forced = modellib.MaskRCNN.from_weights(path, tmp_path, PRECISION="float32")
    assert forced.precision == "float32" and _layer(forced.keras_model, "fpn_p2").compute_dtype == "float32"
    assert Config.from_dict(old.to_dict()).PRECISION == "float32"  # from_dict keeps the stored value


def test_export_command_builds_a_float32_graph(monkeypatch, tmp_path):
    from mrcnn import export
    from mrcnn.cli import commands

    path = tmp_path / "model.h5"
    modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path).save_weights(path)
    monkeypatch.delenv(distribute.PRECISION_ENV)
    monkeypatch.setattr(distribute, "probe_machine", lambda: (None, True))  # "auto" would be bfloat16 here
    exported = []
    monkeypatch.setattr(export, "export", lambda model, out, fmt: exported.append(model.precision) or out)
    assert commands.main(["export", "--weights", str(path), "--format", "savedmodel", "--out", str(tmp_path)]) == 0
    assert exported == ["float32"]
