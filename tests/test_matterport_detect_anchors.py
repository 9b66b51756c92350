"""inspect_model / inspect_balloon_model read model.anchors (pixels) right after model.detect(), as matterport's
detect(), detect_molded() and run_graph() leave it."""

import numpy as np
import pytest

from mrcnn import model as modellib
from mrcnn.modeling.anchors import model_anchors
from tests.tiny import TinyInferenceConfig, shapes


@pytest.fixture(scope="module")
def model():
    return modellib.MaskRCNN(mode="inference", config=TinyInferenceConfig(), model_dir="unused")


def test_detect_leaves_pixel_anchors_of_the_molded_shape(model):
    data = shapes(1)
    image = data.load_image(data.image_ids[0])
    fresh = modellib.MaskRCNN(mode="inference", config=TinyInferenceConfig(), model_dir="unused")
    fresh.keras_model.set_weights(model.keras_model.get_weights())
    assert not hasattr(fresh, "anchors")
    fresh.detect([image])
    molded_shape = fresh.mold_inputs([image])[0].shape[1:]
    np.testing.assert_allclose(fresh.anchors, model_anchors(fresh.config, molded_shape))
    assert fresh.anchors.max() > 1.5  # pixels, not normalised


def test_get_anchors_for_another_shape_is_replaced_by_the_next_detect(model):
    data = shapes(1)
    image = data.load_image(data.image_ids[0])
    model.get_anchors((64, 64, 3))
    small = len(model.anchors)
    model.detect([image])
    assert len(model.anchors) > small
    _, image_meta, _, _, _ = modellib.load_image_gt(data, model.config, data.image_ids[0], use_mini_mask=False)
    model.get_anchors((64, 64, 3))
    molded = modellib.mold_image(modellib.load_image_gt(data, model.config, data.image_ids[0])[0], model.config)
    model.detect_molded(molded[np.newaxis], image_meta[np.newaxis])
    assert len(model.anchors) > small
