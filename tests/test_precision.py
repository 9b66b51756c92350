"""Mixed precision: Config.PRECISION builds under a Keras dtype policy; geometry, heads and losses stay float32."""

import math

import keras
import numpy as np
import pytest
from tiny import TinyConfig, TinyInferenceConfig, shapes

from mrcnn import model as modellib
from mrcnn.config import ConfigError


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
