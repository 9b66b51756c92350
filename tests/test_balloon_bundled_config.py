"""matterport's way to build the balloon model (BalloonConfig + load_weights) must match the bundled file."""

import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "samples" / "balloon"))

import balloon  # noqa: E402

from mrcnn import model as modellib  # noqa: E402
from mrcnn.weights import h5  # noqa: E402

BUNDLED = REPO / "api" / "weights" / "balloon_mobilenet.h5"


def test_balloon_config_describes_the_bundled_model():
    stored = h5.read_metadata(BUNDLED)["config"]
    assert h5.config_differences(stored, balloon.InferenceConfig().to_dict()) == []


def test_matterport_way_loads_without_a_config_warning(tmp_path):
    model = modellib.MaskRCNN("inference", balloon.InferenceConfig(), str(tmp_path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.load_weights(str(BUNDLED), by_name=True)
    assert not [w for w in caught if "another config" in str(w.message)]
    assert model.config.IMAGES_PER_GPU == 1 and model.class_names == ["BG", "balloon"]
