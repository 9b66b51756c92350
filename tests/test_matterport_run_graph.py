"""inspect_model.ipynb's step-by-step cells: the RPN stages through ancestor(), and the heads in matterport's layouts.

Stage 1.b: pillar = get_layer("ROI").output; ancestor(pillar, "ROI/pre_nms_anchors:0"), ... ; run_graph.
Stage 2 / 3.b: run_graph on mrcnn_class, mrcnn_bbox ([b, R, C, 4]) and mrcnn_mask ([b, D, 28, 28, C] sigmoid).
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mrcnn import model as modellib  # noqa: E402
from mrcnn import utils, visualize  # noqa: E402
from tests.tiny import TinyInferenceConfig, shapes  # noqa: E402

CONFIG = TinyInferenceConfig()


@pytest.fixture(scope="module")
def model():
    return modellib.MaskRCNN(mode="inference", config=CONFIG, model_dir="unused")


@pytest.fixture(scope="module")
def image():
    data = shapes(1)
    return modellib.load_image_gt(data, CONFIG, data.image_ids[0], use_mini_mask=False)[0]


@pytest.fixture(scope="module")
def rpn(model, image):
    pillar = model.keras_model.get_layer("ROI").output  # node to start searching from
    nms_node = model.ancestor(pillar, "ROI/rpn_non_max_suppression:0")
    if nms_node is None:
        nms_node = model.ancestor(pillar, "ROI/rpn_non_max_suppression/NonMaxSuppressionV2:0")
    return model.run_graph(
        [image],
        [
            ("rpn_class", model.keras_model.get_layer("rpn_class").output),
            ("rpn_bbox", model.keras_model.get_layer("rpn_bbox").output),
            ("pre_nms_anchors", model.ancestor(pillar, "ROI/pre_nms_anchors:0")),
            ("refined_anchors", model.ancestor(pillar, "ROI/refined_anchors:0")),
            ("refined_anchors_clipped", model.ancestor(pillar, "ROI/refined_anchors_clipped:0")),
            ("post_nms_anchor_ix", nms_node),
            ("proposals", model.keras_model.get_layer("ROI").output),
        ],
    )


def test_ancestor_names(model):
    assert model.ancestor(None, "ROI/rpn_non_max_suppression/NonMaxSuppressionV3:0").stage == "rpn_non_max_suppression"
    assert model.ancestor(None, "rpn_class:0") is model.keras_model.get_layer("rpn_class").output
    assert model.ancestor(None, "ROI/no_such_stage:0") is None and model.ancestor(None, "no_such_layer") is None
    with pytest.raises(ValueError, match="'x' is None"):
        model.run_graph([np.zeros((128, 128, 3), np.uint8)], [("x", None)])


def test_pre_nms_anchors_are_the_top_scoring_anchors(model, image, rpn):
    k = min(CONFIG.PRE_NMS_LIMIT, len(model.get_anchors(image.shape)))
    assert rpn["pre_nms_anchors"].shape == rpn["refined_anchors"].shape == (1, k, 4)
    top = np.argsort(-rpn["rpn_class"][0, :, 1], kind="stable")[:k]
    np.testing.assert_allclose(rpn["pre_nms_anchors"][0], model.get_anchors(image.shape)[top], atol=1e-6)
    deltas = rpn["rpn_bbox"][0, top] * CONFIG.RPN_BBOX_STD_DEV
    np.testing.assert_allclose(
        rpn["refined_anchors"][0], utils.apply_box_deltas(rpn["pre_nms_anchors"][0], deltas), atol=1e-5
    )
    np.testing.assert_allclose(rpn["refined_anchors_clipped"], np.clip(rpn["refined_anchors"], 0, 1), atol=1e-6)


def test_nms_indices_pick_the_proposals(image, rpn):
    ixs = rpn["post_nms_anchor_ix"]
    assert ixs.ndim == 1 and 0 < len(ixs) <= CONFIG.POST_NMS_ROIS_INFERENCE and len(set(ixs)) == len(ixs)
    np.testing.assert_allclose(rpn["proposals"][0, : len(ixs)], rpn["refined_anchors_clipped"][0][ixs], atol=1e-6)
    assert not rpn["proposals"][0, len(ixs) :].any()
    # The notebook's drawing cells.
    refined_anchors_clipped = utils.denorm_boxes(rpn["refined_anchors_clipped"][0], image.shape[:2])
    _, ax = plt.subplots(1, 2)
    visualize.draw_boxes(image, boxes=utils.denorm_boxes(rpn["pre_nms_anchors"][0], image.shape[:2])[:50], ax=ax[0])
    visualize.draw_boxes(image, refined_boxes=refined_anchors_clipped[ixs[:50]], ax=ax[1])
    plt.close("all")


@pytest.fixture(scope="module")
def mrcnn(model, image):
    return model.run_graph(
        [image],
        [
            ("proposals", model.keras_model.get_layer("ROI").output),
            ("probs", model.keras_model.get_layer("mrcnn_class").output),
            ("deltas", model.keras_model.get_layer("mrcnn_bbox").output),
            ("masks", model.keras_model.get_layer("mrcnn_mask").output),
            ("detections", model.keras_model.get_layer("mrcnn_detection").output),
            ("used_deltas", model.keras_model.get_layer("mrcnn_detection").input[2]),
        ],
    )


def test_heads_come_in_matterports_layouts(mrcnn):
    rois, classes = CONFIG.POST_NMS_ROIS_INFERENCE, CONFIG.NUM_CLASSES
    assert mrcnn["probs"].shape == (1, rois, classes)
    assert mrcnn["deltas"].shape == (1, rois, classes, 4)
    np.testing.assert_array_equal(mrcnn["deltas"], mrcnn["used_deltas"])  # what the detection layer refined with
    assert mrcnn["masks"].shape == (1, CONFIG.DETECTION_MAX_INSTANCES, 28, 28, classes)
    assert 0 <= mrcnn["masks"].min() and mrcnn["masks"].max() <= 1


def test_class_masks_are_the_models_masks(model, image, mrcnn):
    # Cell 3.b: det_mask_specific = [masks[0, i, :, :, c] for i, c in enumerate(det_class_ids)].
    det_count = int((mrcnn["detections"][0, :, 5] > 0).sum())
    assert det_count > 0
    det_class_ids = mrcnn["detections"][0, :det_count, 4].astype(np.int32)
    det_mask_specific = np.array([mrcnn["masks"][0, i, :, :, c] for i, c in enumerate(det_class_ids)])
    _, own_masks = model.keras_model.predict_on_batch(model.mold_inputs([image])[0])
    np.testing.assert_allclose(det_mask_specific, own_masks[0, :det_count], atol=1e-6)
    assert not mrcnn["masks"][0, own_masks.shape[1] :].any()  # slots past the kept detections
    det_boxes = utils.denorm_boxes(mrcnn["detections"][0, :det_count, :4], image.shape[:2])
    det_masks = np.array([utils.unmold_mask(m, det_boxes[i], image.shape) for i, m in enumerate(det_mask_specific)])
    assert det_masks.shape == (det_count,) + image.shape[:2]


def test_activations_cell(model, image):
    # "Visualize Activations", as the notebooks write it: tf.identity on the input layer's symbolic output.
    import tensorflow as tf

    activations = model.run_graph(
        [image],
        [
            ("input_image", tf.identity(model.keras_model.get_layer("input_image").output)),
            ("c4_out", model.keras_model.get_layer("c4_out").output),
            ("rpn_bbox", model.keras_model.get_layer("rpn_bbox").output),
            ("roi", model.keras_model.get_layer("ROI").output),
        ],
    )
    np.testing.assert_array_equal(modellib.unmold_image(activations["input_image"][0], CONFIG), image)
    assert activations["rpn_bbox"].shape[-1] == 4 and activations["roi"].shape == (1, 100, 4)


def test_identity_still_refuses_what_it_always_refused(model):
    import tensorflow as tf

    assert float(tf.identity(tf.constant(2.0))) == 2.0
    with pytest.raises((TypeError, ValueError)):
        tf.identity(object())
