"""matterport's samples/shapes/train_shapes.ipynb, cell by cell, on tiny shapes data (names in mrcnn.model)."""

import keras
import numpy as np

from mrcnn import model as modellib
from mrcnn import utils
from mrcnn.model import log
from mrcnn.modeling.anchors import generate_anchors, generate_pyramid_anchors, model_anchors
from mrcnn.modeling.targets import RpnTargets
from tests.tiny import TinyConfig, TinyInferenceConfig, shapes


def test_log_prints_shape_min_max_dtype(capsys):
    log("gt_bbox", np.array([[1, 2, 3, 4]], np.int32))
    log("empty", np.zeros((0, 4)))
    log("plain text")
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("gt_bbox") and "shape: (1, 4)" in lines[0]
    assert "min:    1.00000" in lines[0] and "max:    4.00000" in lines[0] and lines[0].endswith("int32")
    assert "empty" in lines[1].split("shape:")[1]
    assert lines[2] == "plain text"


def test_load_image_gt_returns_matterport_five_values():
    config, data = TinyInferenceConfig(), shapes(2)
    image_id = data.image_ids[0]
    image, image_meta, gt_class_id, gt_bbox, gt_mask = modellib.load_image_gt(
        data, config, image_id, use_mini_mask=False
    )
    count = len(gt_class_id)
    assert image.shape == (128, 128, 3) and image.dtype == np.uint8
    assert image_meta.shape == (config.IMAGE_META_SIZE,)
    assert gt_class_id.dtype == np.int32 and gt_bbox.shape == (count, 4) and gt_bbox.dtype == np.int32
    assert gt_mask.shape == (128, 128, count) and gt_mask.dtype == bool
    np.testing.assert_array_equal(gt_bbox, utils.extract_bboxes(gt_mask))
    meta = modellib.parse_image_meta(image_meta[None])
    assert sorted(meta) == sorted(
        ["image_id", "original_image_shape", "image_shape", "window", "scale", "active_class_ids"]
    )
    assert meta["image_id"][0] == image_id and tuple(meta["image_shape"][0]) == (128, 128, 3)
    np.testing.assert_array_equal(meta["active_class_ids"][0], [1, 1, 1, 1])
    _, _, _, mini_bbox, mini = modellib.load_image_gt(data, config, image_id, use_mini_mask=True)
    assert mini.shape == tuple(config.MINI_MASK_SHAPE) + (count,)
    np.testing.assert_array_equal(mini_bbox, gt_bbox)


def test_mold_unmold_image_use_mean_pixel():
    config = TinyConfig()
    image = np.full((4, 4, 3), 200, np.uint8)
    molded = modellib.mold_image(image, config)
    np.testing.assert_allclose(molded[0, 0], 200 - config.MEAN_PIXEL, rtol=1e-6)
    np.testing.assert_array_equal(modellib.unmold_image(molded, config), image)


def test_compute_backbone_shapes_and_batchnorm():
    shapes_ = modellib.compute_backbone_shapes(TinyConfig(), (128, 100, 3))
    np.testing.assert_array_equal(shapes_, [[32, 25], [16, 13], [8, 7], [4, 4], [2, 2]])
    layer = modellib.BatchNorm(name="bn")
    assert isinstance(layer, keras.layers.BatchNormalization)
    out = layer(np.ones((2, 3), np.float32), training=False)
    assert out.shape == (2, 3)


def test_generate_anchors_match_hand_computed_matterport_values():
    anchors = generate_anchors(32, [0.5, 1, 2], (2, 2), 16, 1)
    assert anchors.shape == (12, 4)
    half_h, half_w = 16 / np.sqrt(0.5), 16 * np.sqrt(0.5)
    np.testing.assert_allclose(anchors[0], [-half_h, -half_w, half_h, half_w])  # centre (0, 0), ratio 0.5
    np.testing.assert_allclose(anchors[1], [-16, -16, 16, 16])  # centre (0, 0), ratio 1
    np.testing.assert_allclose(anchors[3 + 1], [-16, 0, 16, 32])  # centre (0, 16): matterport's i * stride
    np.testing.assert_allclose(anchors[3 * 2 + 1], [0, -16, 32, 16])  # centre (16, 0)
    pyramid = generate_pyramid_anchors((8, 16), [1], [(4, 4), (2, 2)], [4, 8], 1)
    assert pyramid.shape == (16 + 4, 4)
    np.testing.assert_allclose(pyramid[16], [-8, -8, 8, 8])


def _rpn_sets(match):
    return set(np.flatnonzero(match == 1)), set(np.flatnonzero(match == -1))


def test_build_rpn_targets_matches_in_graph_targets():
    config = TinyConfig(RPN_TRAIN_ANCHORS_PER_IMAGE=64)
    anchors = model_anchors(config, config.IMAGE_SHAPE)
    gt_boxes = np.array([[10, 12, 50, 60], [70, 70, 120, 100], [0, 0, 30, 30]], np.float32)
    gt_class_ids = np.array([1, 2, -1], np.int32)
    np.random.seed(0)
    rpn_match, rpn_bbox = modellib.build_rpn_targets(config.IMAGE_SHAPE, anchors, gt_class_ids, gt_boxes, config)
    scale = np.array([128, 128, 128, 128], np.float32)
    match, deltas = RpnTargets(64, config.RPN_BBOX_STD_DEV, seed=1)(
        [anchors / scale, gt_class_ids[None], (gt_boxes / scale)[None]]
    )
    match, deltas = keras.ops.convert_to_numpy(match)[0], keras.ops.convert_to_numpy(deltas)[0]
    positives, negatives = _rpn_sets(rpn_match)
    graph_positives, graph_negatives = _rpn_sets(match)
    assert 0 < len(positives) < 32 and positives == graph_positives  # all positives kept by both
    assert len(negatives) == len(graph_negatives) == 64 - len(positives)
    assert rpn_bbox.shape == (64, 4) and not rpn_bbox[len(positives) :].any()
    np.testing.assert_allclose(rpn_bbox[: len(positives)], deltas[sorted(positives)], atol=1e-5)
    crowd_touching = utils.compute_overlaps(anchors, gt_boxes[2:]).ravel() >= 0.001
    assert not (rpn_match[crowd_touching] == -1).any()


def test_data_generator_yields_matterport_inputs():
    config, data = TinyConfig(), shapes(3)
    inputs, outputs = next(modellib.data_generator(data, config, shuffle=True, batch_size=2))
    images, metas, rpn_match, rpn_bbox, class_ids, boxes, masks = inputs
    anchors = len(model_anchors(config, config.IMAGE_SHAPE))
    assert outputs == []
    assert images.shape == (2, 128, 128, 3) and images.dtype == np.float32 and images.min() < 0
    assert metas.shape == (2, config.IMAGE_META_SIZE)
    assert rpn_match.shape == (2, anchors, 1) and rpn_bbox.shape == (2, config.RPN_TRAIN_ANCHORS_PER_IMAGE, 4)
    assert class_ids.shape == (2, config.MAX_GT_INSTANCES) and boxes.shape == (2, config.MAX_GT_INSTANCES, 4)
    assert masks.shape == (2,) + tuple(config.MINI_MASK_SHAPE) + (config.MAX_GT_INSTANCES,)
    assert (class_ids > 0).any() and (rpn_match == 1).any()


def test_notebook_detection_cell_runs_on_load_image_gt_output():
    config, data = TinyInferenceConfig(), shapes(2)
    model = modellib.MaskRCNN(mode="inference", config=config, model_dir="unused")
    original_image, image_meta, gt_class_id, gt_bbox, gt_mask = modellib.load_image_gt(
        data, config, data.image_ids[0], use_mini_mask=False
    )
    for name, value in [("original_image", original_image), ("image_meta", image_meta), ("gt_bbox", gt_bbox)]:
        log(name, value)
    r = model.detect([original_image], verbose=0)[0]
    assert r["masks"].shape[:2] == original_image.shape[:2]
    ap, precisions, recalls, overlaps = utils.compute_ap(
        gt_bbox, gt_class_id, gt_mask, r["rois"], r["class_ids"], r["scores"], r["masks"]
    )
    assert 0.0 <= ap <= 1.0
