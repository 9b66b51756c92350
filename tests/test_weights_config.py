"""Loading a weights file whose stored config differs from the model's: a warning per key, a fix in the message."""

import warnings

import pytest
from tiny import TinyInferenceConfig

from mrcnn import model as modellib
from mrcnn.weights import h5


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tiny.h5"
    modellib.MaskRCNN("inference", TinyInferenceConfig(), str(path.parent)).save_weights(str(path))
    return path


def _load(config, path, **kwargs):
    model = modellib.MaskRCNN("inference", config, str(path.parent))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(str(path), by_name=True, **kwargs)
    return [str(w.message) for w in caught if "another config" in str(w.message)]


def test_same_config_loads_silently(saved):
    assert _load(TinyInferenceConfig(), saved) == []


def test_other_image_size_and_anchors_are_named_with_both_values(saved):
    config = TinyInferenceConfig(IMAGE_MIN_DIM=192, IMAGE_MAX_DIM=192, RPN_ANCHOR_SCALES=(16, 32, 64, 128, 256))
    (message,) = _load(config, saved)
    assert "IMAGE_MAX_DIM file=128 model=192" in message
    assert "RPN_ANCHOR_SCALES file=[8, 16, 32, 64, 128] model=[16, 32, 64, 128, 256]" in message
    assert "MaskRCNN.from_weights(" in message
    assert "DETECTION_MIN_CONFIDENCE" not in message  # a post-processing choice, not a trained property


def test_from_weights_with_a_chosen_override_does_not_warn(saved):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        modellib.MaskRCNN.from_weights(str(saved), str(saved.parent), IMAGE_MIN_DIM=192, IMAGE_MAX_DIM=192)
    assert not [w for w in caught if "another config" in str(w.message)]


def test_shape_mismatch_names_the_files_widths(saved):
    config = TinyInferenceConfig(TOP_DOWN_PYRAMID_SIZE=16)
    with pytest.raises(h5.WeightsFileError, match=r"built with .*TOP_DOWN_PYRAMID_SIZE=32.*from_weights"):
        _load(config, saved)


def test_config_differences_ignores_keys_an_old_file_lacks():
    assert h5.config_differences({"IMAGE_MAX_DIM": 512}, {"IMAGE_MAX_DIM": 512, "NUM_CLASSES": 3}) == []
    assert h5.config_differences({"MEAN_PIXEL": [1, 2, 3]}, {"MEAN_PIXEL": (1.0, 2.0, 3.0)}) == []
    assert h5.config_differences(None, {"NUM_CLASSES": 3}) == []
