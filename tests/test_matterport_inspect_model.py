"""matterport's samples/coco/inspect_model.ipynb and balloon/inspect_balloon_model.ipynb calls, on a tiny model."""

import collections

import numpy as np
import pytest

from mrcnn import model as modellib
from mrcnn.model import log
from tests.tiny import TinyConfig, TinyInferenceConfig, shapes


@pytest.fixture(scope="module")
def model():
    return modellib.MaskRCNN(mode="inference", config=TinyInferenceConfig(), model_dir="unused")


@pytest.fixture(scope="module")
def example():
    data = shapes(1)
    return modellib.load_image_gt(data, TinyInferenceConfig(), data.image_ids[0], use_mini_mask=False)


def test_get_anchors_are_normalised_and_pixels_kept(model):
    normalised = model.get_anchors((128, 128, 3))
    assert normalised.shape == model.anchors.shape and normalised.shape[1] == 4
    np.testing.assert_allclose(normalised * 128, model.anchors, rtol=1e-5)
    centre = (model.anchors[0, :2] + model.anchors[0, 2:]) / 2
    np.testing.assert_allclose(centre, [2, 2])  # the model's (i + 0.5) * stride grid (stride 4)


def test_run_graph_returns_named_numpy_arrays(model, example):
    image = example[0]
    outputs = model.run_graph(
        [image],
        [("proposals", model.keras_model.get_layer("ROI").output), ("detections", "mrcnn_detection")],
    )
    assert isinstance(outputs, collections.OrderedDict) and list(outputs) == ["proposals", "detections"]
    for name, value in outputs.items():
        log(name, value)
    assert outputs["proposals"].shape == (1, TinyInferenceConfig.POST_NMS_ROIS_INFERENCE, 4)
    assert outputs["detections"].shape[0] == 1 and outputs["detections"].shape[2] == 6


def test_detect_molded_matches_detect(model, example):
    image, image_meta = example[0], example[1]
    molded = modellib.mold_image(image, model.config)[None]
    molded_result = model.detect_molded(molded, image_meta[None], verbose=1)[0]
    plain = model.detect([image])[0]
    np.testing.assert_array_equal(molded_result["rois"], plain["rois"])
    np.testing.assert_array_equal(molded_result["class_ids"], plain["class_ids"])


def test_unmold_detections_gives_matterport_tuple(model, example):
    image = example[0]
    molded, windows, _, _ = model.mold_inputs([image])
    detections, masks = model.keras_model.predict_on_batch(molded)
    boxes, class_ids, scores, full_masks = model.unmold_detections(
        detections[0], masks[0], image.shape, molded.shape[1:], windows[0]
    )
    assert boxes.shape == (len(class_ids), 4) and scores.shape == class_ids.shape
    assert full_masks.shape == image.shape[:2] + (len(class_ids),)
    expected = model.detect([image])[0]
    np.testing.assert_array_equal(boxes, expected["rois"])


def test_find_trainable_layer_set_trainable_and_compile(capsys):
    trainer = modellib.MaskRCNN(mode="training", config=TinyConfig(), model_dir="unused")
    layer = trainer.keras_model.layers[-1]
    assert trainer.find_trainable_layer(layer) is layer
    names = trainer.set_trainable(r"mrcnn\_.*", indent=2, verbose=1)
    assert names and all(n.startswith("mrcnn_") for n in names)
    assert capsys.readouterr().out.startswith("  ")
    trainer.compile(0.01, 0.8)
    assert np.isclose(float(trainer.keras_model.optimizer.learning_rate), 0.01)
    assert np.isclose(float(trainer.keras_model.optimizer.momentum), 0.8)
    with pytest.raises(ValueError, match="training"):
        modellib.MaskRCNN(mode="inference", config=TinyInferenceConfig(), model_dir="unused").compile(0.01, 0.9)


def test_ancestor_gives_layer_outputs_and_none_for_unknown_names(model):
    assert model.ancestor(None, "ROI") is model.keras_model.get_layer("ROI").output
    assert model.ancestor(None, "ROI/pre_nms_anchors:0").stage == "pre_nms_anchors"
    assert model.ancestor(None, "no_such_layer:0") is None  # matterport's contract: the notebook tests for None
