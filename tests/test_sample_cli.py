"""mrcnn.cli.sample: --set overrides, weights resolution, and inference built from the stored config."""

import argparse

import numpy as np
import pytest
from tiny import TinyInferenceConfig, shapes

from mrcnn.cli import sample as sample_cli
from mrcnn.model import MaskRCNN

TASK = sample_cli.Task(name="tiny", config_class=TinyInferenceConfig, load=lambda *a: shapes(2))


def parse(argv):
    return sample_cli.build_parser(TASK).parse_args(argv)


def test_set_parses_literals_and_strings():
    assert sample_cli.parse_setting("TRAIN_ROIS_PER_IMAGE=64") == ("TRAIN_ROIS_PER_IMAGE", 64)
    assert sample_cli.parse_setting("RPN_ANCHOR_SCALES=(8, 16, 32, 64, 128)") == (
        "RPN_ANCHOR_SCALES",
        (8, 16, 32, 64, 128),
    )
    assert sample_cli.parse_setting("AUGMENTATION=scale_jitter") == ("AUGMENTATION", "scale_jitter")
    with pytest.raises(argparse.ArgumentTypeError, match="KEY=VALUE"):
        sample_cli.parse_setting("rois=3")


def test_set_reaches_the_config_and_bad_keys_are_named():
    args = parse(["train", "--set", "TRAIN_ROIS_PER_IMAGE=16", "--set", "MASK_HEAD_CONVS=2"])
    config = sample_cli._config(TASK, args)
    assert config.TRAIN_ROIS_PER_IMAGE == 16 and config.MASK_HEAD_CONVS == 2
    with pytest.raises(ValueError, match="Unknown config attribute 'NOT_A_SETTING'"):
        sample_cli._config(TASK, parse(["train", "--set", "NOT_A_SETTING=1"]))


def test_inference_uses_the_architecture_stored_in_the_weights(tmp_path):
    wide = MaskRCNN("inference", TinyInferenceConfig(MASK_HEAD_CHANNELS=24, MASK_HEAD_CONVS=2), str(tmp_path))
    path = tmp_path / "wide.h5"
    wide.save_weights(str(path))
    args = parse(["evaluate", "--weights", str(path), "--logs", str(tmp_path)])
    model = sample_cli._inference_model(TASK, args)
    assert model.config.MASK_HEAD_CHANNELS == 24 and model.config.MASK_HEAD_CONVS == 2
    assert model.config.DETECTION_MIN_CONFIDENCE == 0.05  # the evaluate default still applies
    layer = "mrcnn_mask_conv2"
    for got, want in zip(
        model.keras_model.get_layer(layer).get_weights(), wide.keras_model.get_layer(layer).get_weights()
    ):
        np.testing.assert_array_equal(got, want)


def test_weights_resolution_errors(tmp_path):
    with pytest.raises(sample_cli.CommandError, match="no such file"):
        sample_cli.resolve_weights(TASK, parse(["evaluate", "--weights", str(tmp_path / "x.h5")]))
    with pytest.raises(FileNotFoundError, match="No checkpoint of 'tiny'"):
        sample_cli.resolve_weights(TASK, parse(["evaluate", "--weights", "last", "--logs", str(tmp_path)]))
    assert sample_cli.resolve_weights(TASK, parse(["train", "--weights", "imagenet"])) == "imagenet"
    assert sample_cli.resolve_weights(TASK, parse(["train"])) is None
    with pytest.raises(sample_cli.CommandError, match="--weights is required for inference"):
        sample_cli._inference_model(TASK, parse(["evaluate", "--weights", "imagenet"]))


def test_repo_shared_dir_is_beside_the_checkout():
    from pathlib import Path

    assert sample_cli.repo_shared_dir() == Path(__file__).resolve().parents[2] / "shared"
