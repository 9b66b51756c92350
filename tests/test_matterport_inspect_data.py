"""matterport's samples/coco/inspect_data.ipynb and balloon/inspect_balloon_data.ipynb calls on tiny shapes data."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from mrcnn import model as modellib  # noqa: E402
from mrcnn import utils, visualize  # noqa: E402
from mrcnn.model import log  # noqa: E402
from tests.tiny import TinyConfig, TinyInferenceConfig, shapes  # noqa: E402


def test_inspect_data_cells_run_in_notebook_order(capsys):
    config, data = TinyConfig(), shapes(2)
    image_id = data.image_ids[0]
    image, image_meta, class_ids, bbox, mask = modellib.load_image_gt(data, config, image_id, use_mini_mask=False)
    log("image", image)
    log("mask", mask)
    log("bbox", bbox)
    visualize.display_instances(image, bbox, mask, class_ids, data.class_names)
    # Mini masks round-trip through expand_mask
    _, _, _, mini_bbox, mini_mask = modellib.load_image_gt(data, config, image_id, augment=True, use_mini_mask=True)
    expanded = utils.expand_mask(mini_bbox, mini_mask, image.shape)
    assert expanded.shape == mask.shape
    # Anchors: pixel anchors of each level, as the notebook counts them
    backbone_shapes = modellib.compute_backbone_shapes(config, config.IMAGE_SHAPE)
    anchors = utils.generate_pyramid_anchors(
        config.RPN_ANCHOR_SCALES,
        config.RPN_ANCHOR_RATIOS,
        backbone_shapes,
        config.BACKBONE_STRIDES,
        config.RPN_ANCHOR_STRIDE,
    )
    assert len(anchors) == sum(h * w for h, w in backbone_shapes) * len(config.RPN_ANCHOR_RATIOS)
    # Data generator and the RPN targets it yields
    inputs, _ = next(modellib.data_generator(data, config, shuffle=True, batch_size=config.BATCH_SIZE))
    rpn_match, rpn_bbox = inputs[2], inputs[3]
    positive = np.flatnonzero(rpn_match[0, :, 0] == 1)
    assert len(positive) and not rpn_bbox[0, len(positive) :].any()
    sample_image = modellib.unmold_image(inputs[0][0], config)
    assert sample_image.dtype == np.uint8 and sample_image.shape == (128, 128, 3)
    model_anchors = modellib.MaskRCNN("inference", TinyInferenceConfig(), "unused").get_anchors(config.IMAGE_SHAPE)
    refined = utils.apply_box_deltas(
        model_anchors[positive] * 128, rpn_bbox[0, : len(positive)] * config.RPN_BBOX_STD_DEV
    )
    ax = visualize.draw_boxes(sample_image, boxes=model_anchors[positive] * 128, refined_boxes=refined)
    assert len(ax.patches) == 2 * len(positive)
    assert "shape: (128, 128, 3)" in capsys.readouterr().out


def test_draw_box_draws_the_outline_in_place():
    image = np.zeros((10, 10, 3), np.uint8)
    out = visualize.draw_box(image, (2, 3, 6, 8), (255, 0, 0))
    assert out is image and (image[2, 3:8, 0] == 255).all() and (image[5, 3:8, 0] == 255).all()
    assert image[3:5, 4:7].sum() == 0 and image[:2].sum() == 0


def test_draw_rois_display_table_weight_stats_and_differences(capsys):
    image = np.zeros((32, 32, 3), np.uint8)
    rois = np.array([[2, 2, 10, 10], [12, 12, 20, 20]])
    ax = visualize.draw_rois(image, rois, rois + 1, None, np.array([1, 0]), ["bg", "a"], limit=2)
    assert len(ax.patches) == 4 and "Positive ROIs: 1, negative ROIs: 1" in capsys.readouterr().out
    html = visualize.display_table([["a", 1], ["b", 2]])
    assert html.count("<tr>") == 2 and "<td>b</td>" in html
    import keras

    tiny = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    rows = visualize.display_weight_stats(tiny)
    assert rows[0][0] == "WEIGHT NAME" and len(rows) == 3 and rows[1][1] == "(3, 2)"
    masks = np.zeros((32, 32, 1), bool)
    masks[2:10, 2:10] = True
    ax = visualize.display_differences(
        image, rois[:1], np.array([1]), masks, rois[:1], np.array([1]), np.array([0.9]), masks, ["bg", "a"]
    )
    assert any("0.90 / 1.00" in t.get_text() for t in ax.texts)


def test_data_generator_with_random_rois_and_detection_targets():
    # inspect_data.ipynb, "Data Generator": random_rois=2000, detection_targets=True, then its ROI cells.
    config, data = TinyConfig(), shapes(2)
    g = modellib.data_generator(data, config, shuffle=True, random_rois=2000, batch_size=2, detection_targets=True)
    (
        [normalized_images, image_meta, rpn_match, rpn_bbox, gt_class_ids, gt_boxes, gt_masks, rpn_rois, rois],
        [
            mrcnn_class_ids,
            mrcnn_bbox,
            mrcnn_mask,
        ],
    ) = next(g)
    rois_per_image, classes = config.TRAIN_ROIS_PER_IMAGE, config.NUM_CLASSES
    assert rpn_rois.shape == (2, 2000, 4) and rpn_rois.dtype == np.int32
    assert (rpn_rois[..., 2:] > rpn_rois[..., :2]).all() and rpn_rois.min() >= 0 and rpn_rois.max() <= 128
    assert rois.shape == (2, rois_per_image, 4) and mrcnn_class_ids.shape == (2, rois_per_image, 1)
    assert mrcnn_bbox.shape == (2, rois_per_image, classes, 4)
    assert mrcnn_mask.shape == (2, rois_per_image) + tuple(config.MASK_SHAPE) + (classes,)
    mrcnn_class_ids = mrcnn_class_ids[:, :, 0]
    b = 0
    positive = np.flatnonzero(mrcnn_class_ids[b] > 0)
    assert 0 < len(positive) <= round(rois_per_image * config.ROI_POSITIVE_RATIO)
    # The notebook's refinement: class-specific deltas move each positive ROI onto its ground-truth box.
    bbox_specific = mrcnn_bbox[b, np.arange(mrcnn_bbox.shape[1]), mrcnn_class_ids[b], :]
    refined_rois = utils.apply_box_deltas(rois[b].astype(np.float32), bbox_specific[:, :4] * config.BBOX_STD_DEV)
    real = gt_class_ids[b] > 0
    best = utils.compute_overlaps(refined_rois[positive], gt_boxes[b][real].astype(np.float32)).max(axis=1)
    assert (best > 0.9).all()  # rounding of the ROIs to pixels only
    mask_specific = mrcnn_mask[b, np.arange(mrcnn_mask.shape[1]), :, :, mrcnn_class_ids[b]]
    assert mask_specific[positive].any(axis=(1, 2)).all() and not mask_specific[mrcnn_class_ids[b] == 0].any()
    assert not np.delete(mrcnn_mask[b], mrcnn_class_ids[b], axis=-1)[positive].any()  # other classes stay empty
    visualize.draw_rois(
        modellib.unmold_image(normalized_images[b], config),
        rois[b],
        refined_rois,
        mask_specific,
        mrcnn_class_ids[b],
        data.class_names,
    )
    # random_rois alone adds rpn_rois only.
    inputs, outputs = next(modellib.data_generator(data, config, random_rois=50))
    assert len(inputs) == 8 and inputs[7].shape == (1, 50, 4) and outputs == []


def test_detection_targets_use_the_configs_box_frame():
    # build_detection_targets hands the ROI sampler boxes in Config.BOX_NORMALIZATION's frame, and maps its ROIs back.
    config = TinyConfig()
    config.BOX_NORMALIZATION = "matterport"
    rpn_rois = np.array([[10, 20, 50, 60], [0, 0, 128, 128]], np.int32)
    gt_boxes = np.array([[12, 22, 48, 58]], np.int32)
    seen = []

    def sampler(inputs):
        seen.append([np.asarray(x) for x in inputs])
        rois = inputs[0]
        count = config.TRAIN_ROIS_PER_IMAGE
        padded = np.zeros((1, count, 4), np.float32)
        padded[0, :2] = np.asarray(rois)[0]
        empty = np.zeros((1, count), np.int32), np.zeros((1, count, 4), np.float32)
        return padded, empty[0], empty[1], np.zeros((1, 0) + tuple(config.MASK_SHAPE), np.float32), empty[0]

    masks = np.zeros((128, 128, 1), bool)
    pixels, *_ = modellib.build_detection_targets(rpn_rois, [1], gt_boxes, masks, config, (128, 128), sampler)
    frame = np.array([127, 127, 127, 127], np.float32)
    np.testing.assert_allclose(seen[0][0][0], (rpn_rois - [0, 0, 1, 1]) / frame, rtol=1e-6)
    np.testing.assert_allclose(seen[0][2][0], (gt_boxes - [0, 0, 1, 1]) / frame, rtol=1e-6)
    np.testing.assert_array_equal(pixels[:2], rpn_rois)
