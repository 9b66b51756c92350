import numpy as np
import pytest

from mrcnn.config import Config, ConfigError, MobileConfig


class ShapesConfig(Config):
    NAME = "shapes"
    NUM_CLASSES = 4
    GPU_COUNT = 2
    IMAGES_PER_GPU = 3


def test_derived_values_follow_matterport():
    config = ShapesConfig()
    assert config.BATCH_SIZE == 6
    assert list(config.IMAGE_SHAPE) == [1024, 1024, 3]
    assert config.IMAGE_META_SIZE == 1 + 3 + 3 + 4 + 1 + 4


def test_keyword_overrides_and_unknown_names():
    config = ShapesConfig(IMAGE_MAX_DIM=512, IMAGE_MIN_DIM=512)
    assert list(config.IMAGE_SHAPE) == [512, 512, 3]
    with pytest.raises(ConfigError, match="IMAGE_MAXDIM"):
        ShapesConfig(IMAGE_MAXDIM=512)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"IMAGE_MAX_DIM": 500}, "multiple of 64"),
        ({"IMAGE_RESIZE_MODE": "stretch"}, "IMAGE_RESIZE_MODE"),
        ({"RPN_ANCHOR_SCALES": (32, 64)}, "one scale per pyramid level"),
        ({"ROI_POSITIVE_RATIO": 1.5}, "ROI_POSITIVE_RATIO"),
        ({"OPTIMIZER": "rmsprop"}, "OPTIMIZER"),
        ({"LOSS_WEIGHTS": {"rpn_loss": 1.0}}, "LOSS_WEIGHTS"),
        ({"AUGMENTATION": "strong"}, "AUGMENTATION must be None or one of"),
    ],
)
def test_invalid_values_name_the_attribute(overrides, message):
    with pytest.raises(ConfigError, match=message):
        ShapesConfig(**overrides)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"IMAGE_CHANNEL_COUNT": 0}, r"IMAGE_CHANNEL_COUNT must be a positive int .* got 0"),
        ({"IMAGE_CHANNEL_COUNT": "gray"}, r"IMAGE_CHANNEL_COUNT must be a positive int"),
        ({"MEAN_PIXEL": np.array([120.0, 110.0])}, r"MEAN_PIXEL=.* needs finite values, 3 \(RGB\) or one per"),
        ({"MEAN_PIXEL": np.array([120.0, np.nan, 100.0])}, "MEAN_PIXEL=.* needs finite values"),
        ({"MEAN_PIXEL": "gray"}, "MEAN_PIXEL=.* needs finite values"),
        ({"USE_RPN_ROIS": False}, "USE_RPN_ROIS=False is not supported: the heads always train on the RPN"),
        ({"COMPUTE_BACKBONE_SHAPE": lambda image_shape: []}, "COMPUTE_BACKBONE_SHAPE is not supported"),
        ({"RPN_ANCHOR_STRIDE": 0}, "RPN_ANCHOR_STRIDE must be an integer >= 1"),
        ({"RPN_ANCHOR_STRIDE": 1.5}, "RPN_ANCHOR_STRIDE must be an integer >= 1"),
    ],
)
def test_keys_that_would_do_nothing_raise(overrides, message):
    with pytest.raises(ConfigError, match=message):
        ShapesConfig(**overrides)


def test_matterport_keys_at_their_working_values_are_accepted():
    config = ShapesConfig(MEAN_PIXEL=[123.7, 116.8, 103.9], RPN_ANCHOR_STRIDE=2, USE_RPN_ROIS=True)
    assert config.RPN_ANCHOR_STRIDE == 2 and config.COMPUTE_BACKBONE_SHAPE is None


def test_dict_round_trip_keeps_arrays():
    config = MobileConfig(NUM_CLASSES=3, NAME="x")
    again = Config.from_dict(config.to_dict())
    assert again.NUM_CLASSES == 3 and again.BACKBONE == "mobilenet_v1"
    assert isinstance(again.BBOX_STD_DEV, np.ndarray)
    assert again.to_dict() == config.to_dict()


def test_json_stores_a_callable_backbone_by_name():
    def my_backbone(**kwargs):
        raise NotImplementedError

    config = ShapesConfig(BACKBONE=my_backbone)
    assert '"BACKBONE": "my_backbone"' in config.to_json()


def test_display_lists_every_value(capsys):
    ShapesConfig().display()
    out = capsys.readouterr().out
    assert "NUM_CLASSES" in out and "BATCH_SIZE" in out and "DETECTION_MIN_CONFIDENCE" in out
