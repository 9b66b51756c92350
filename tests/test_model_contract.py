"""Whole-model contracts: backbone strides, anchor stride, .keras round trip, pinned losses, presets, bad pixels."""

import keras
import numpy as np
import pytest
from tiny import TinyConfig, TinyInferenceConfig, shapes

from mrcnn import model as modellib
from mrcnn.backbones import Backbone, build_backbone, registry
from mrcnn.config import ConfigError
from mrcnn.data.generator import DataGenerator
from mrcnn.engine import training
from mrcnn.inference.mold import ImageError
from mrcnn.modeling import graph
from mrcnn.modeling.detection import DetectionLayer
from mrcnn.modeling.proposals import ProposalLayer


@pytest.fixture
def stride8_backbone(monkeypatch):
    """A registered backbone whose outputs have strides (8, 16, 32, 64): MobileNet's C3..C5 plus a pooled C6."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    @registry.register_backbone("stride8")
    def stride8(input_shape=(None, None, 3), weights=None, train_bn=False, alpha=0.25):
        body = build_backbone("mobilenet_v1", input_shape, weights, train_bn, alpha=alpha)
        image = keras.Input(input_shape)
        c3, c4, c5 = body.model(image)[1:]
        c6 = keras.layers.MaxPooling2D(2, padding="same", name="stride8_c6")(c5)
        model = keras.Model(image, [c3, c4, c5, c6], name="stride8")
        channels = body.channels[1:] + body.channels[-1:]
        return Backbone(model, (8, 16, 32, 64), channels, body.stage_patterns, "stride8")

    return "stride8"


def test_backbone_strides_disagreeing_with_config_raise(stride8_backbone):
    with pytest.raises(ConfigError, match=r"set BACKBONE_STRIDES = \[8, 16, 32, 64, 128\]"):
        graph.build_inference_graph(TinyInferenceConfig(BACKBONE=stride8_backbone))


def test_backbone_strides_place_the_anchors(stride8_backbone):
    config = TinyInferenceConfig(BACKBONE=stride8_backbone, BACKBONE_STRIDES=[8, 16, 32, 64, 128])
    model, _ = graph.build_inference_graph(config)
    probe = keras.Model(model.input, model.get_layer("anchors").output)
    anchors = keras.ops.convert_to_numpy(probe(np.zeros((1, 128, 128, 3), np.float32))) * 128
    per_cell = len(config.RPN_ANCHOR_RATIOS)
    sizes = [128 // s for s in (8, 16, 32, 64, 128)]  # 16, 8, 4, 2, 1 cells a side
    assert len(anchors) == per_cell * sum(n * n for n in sizes)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    start = 0
    for stride, n in zip((8, 16, 32, 64, 128), sizes):
        level = centres[start : start + per_cell * n * n]
        np.testing.assert_allclose(level[0], [stride / 2, stride / 2], atol=1e-4)  # first cell's centre
        np.testing.assert_allclose(level[-1], [(n - 0.5) * stride] * 2, atol=1e-4)  # last cell's centre
        start += per_cell * n * n


def test_rpn_anchor_stride_2_gives_4x_fewer_anchors_lined_up_with_the_rpn():
    outputs = {}
    for stride in (1, 2):
        model, _ = graph.build_inference_graph(TinyInferenceConfig(RPN_ANCHOR_STRIDE=stride))
        probe = keras.Model(model.input, [model.get_layer("anchors").output, model.get_layer("rpn_class").output])
        anchors, probs = probe(np.zeros((1, 128, 128, 3), np.float32))
        assert anchors.shape[0] == probs.shape[1]
        outputs[stride] = keras.ops.convert_to_numpy(anchors)
        detections, _ = model(np.full((1, 128, 128, 3), 100.0, np.float32))
        assert detections.shape == (1, TinyInferenceConfig.DETECTION_MAX_INSTANCES, 6)
    assert len(outputs[1]) == 4 * len(outputs[2])
    # P2 (32x32 cells, 3 anchors each): the stride-2 anchors are the dense ones of the even rows and columns.
    dense_p2 = outputs[1][: 32 * 32 * 3].reshape(32, 32, 3, 4)
    np.testing.assert_allclose(outputs[2][: 16 * 16 * 3], dense_p2[::2, ::2].reshape(-1, 4), atol=1e-6)


def test_keras_file_round_trip_gives_identical_outputs(tmp_path):
    keras.utils.set_random_seed(0)
    # A backbone gradient scale puts a GradientScale layer in the graph too.
    model, _ = graph.build_inference_graph(TinyInferenceConfig(BACKBONE_GRADIENT_SCALE=0.5))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in model.layers]
    image = np.random.default_rng(0).uniform(0, 255, (1, 128, 128, 3)).astype(np.float32)
    before, after = model.predict_on_batch(image), loaded.predict_on_batch(image)
    assert (before[0][0, :, 5] > 0).sum() > 0  # detections to compare, not only empty slots
    for want, got in zip(before, after):
        np.testing.assert_array_equal(got, want)


# Losses of two SGD steps on the first tiny shapes batch, everything seeded. Step 1 sees the initial weights:
# the heads start near uniform (ln 4 for 4 classes, ln 2 for masks and RPN classes); step 2 sees the update.
PINNED_LOSSES = [
    {
        "rpn_class_loss": 0.6931058,
        "rpn_bbox_loss": 0.5416536,
        "mrcnn_class_loss": 1.3863033,
        "mrcnn_bbox_loss": 8.9138e-10,
        "mrcnn_mask_loss": 0.6931499,
    },
    {
        "rpn_class_loss": 0.6892666,
        "rpn_bbox_loss": 0.5410330,
        "mrcnn_class_loss": 1.3745767,
        "mrcnn_bbox_loss": 1.0697e-06,
        "mrcnn_mask_loss": 0.6927722,
    },
]


def test_one_training_step_gives_the_pinned_losses():
    keras.utils.set_random_seed(0)
    config = TinyConfig()
    model, _ = graph.build_training_graph(config, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9, clipnorm=5.0), jit_compile=False)
    batch = DataGenerator(shapes(), config, shuffle=False, seed=0)[0][0]
    for pinned in PINNED_LOSSES:
        logs = model.train_on_batch(batch, return_dict=True)
        got = {name: logs[name] for name in pinned}
        np.testing.assert_allclose(list(got.values()), list(pinned.values()), rtol=2e-4, atol=1e-9, err_msg=str(got))
        np.testing.assert_allclose(logs["loss"], sum(got.values()), rtol=1e-5)


@pytest.fixture(scope="module")
def tiny_trainer(tmp_path_factory):
    return modellib.MaskRCNN("training", TinyConfig(), tmp_path_factory.mktemp("logs"))


# Kernels and biases: FPN 8 convs (16), RPN 3 convs (6), box head 2 convs + 2 dense (8), mask head 1 conv +
# deconv + 1x1 conv (6) = 36. MobileNet v1 convs have no bias and its BatchNorms stay frozen: conv1 (1) and a
# depthwise and a pointwise kernel per block 1..13; stage 5 = blocks 12-13, 4 = 6-13, 3 = 4-13, all = + stem.
TRAINABLE_WEIGHTS = {"heads": 36, "5+": 36 + 2 * 2, "4+": 36 + 2 * 8, "3+": 36 + 2 * 10, "all": 36 + 1 + 2 * 13}


@pytest.mark.parametrize("preset", list(TRAINABLE_WEIGHTS))
def test_trainable_weight_count_per_preset(tiny_trainer, preset):
    tiny_trainer.set_trainable(training.layers_pattern(preset, tiny_trainer.backbone))
    assert len(tiny_trainer.keras_model.trainable_weights) == TRAINABLE_WEIGHTS[preset]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_detect_refuses_non_finite_pixels_clearly(bad, tmp_path):
    """Chosen behaviour: detect() raises ImageError naming the image before the network runs. The compiled
    graph cannot promise "no detections" itself: its fused convolution + ReLU kernels may turn NaN into 0."""
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    image = np.full((40, 50, 3), 100.0, np.float32)
    image[5:10, 5:10] = bad
    with pytest.raises(ImageError, match=r"images\[0\]: float32 pixels must be finite"):
        model.detect([image])


def test_non_finite_scores_and_boxes_never_become_proposals_or_detections():
    anchors = np.array([[0.1, 0.1, 0.4, 0.4], [0.5, 0.5, 0.9, 0.9], [0.0, 0.6, 0.2, 0.9]], np.float32)
    probs = np.array([[[0.1, np.nan], [0.2, 0.8], [0.5, 0.5]]], np.float32)
    deltas = np.zeros((1, 3, 4), np.float32)
    deltas[0, 2] = np.nan
    proposals = keras.ops.convert_to_numpy(ProposalLayer(3, 3, 0.7, [0.1, 0.1, 0.2, 0.2])([probs, deltas, anchors]))
    # By score: anchor 1; anchor 2, whose NaN box became a zero box; anchor 0, whose NaN score ranks last.
    np.testing.assert_allclose(proposals[0], [anchors[1], [0, 0, 0, 0], anchors[0]], atol=1e-6)
    rois = anchors[None]
    class_probs = np.array([[[0.1, 0.9], [np.nan, np.nan], [0.3, 0.7]]], np.float32)
    box_deltas = np.zeros((1, 3, 2, 4), np.float32)
    box_deltas[0, 2, 1] = np.nan
    detections = keras.ops.convert_to_numpy(
        DetectionLayer(5, 0.0, 0.3, [0.1, 0.1, 0.2, 0.2])([rois, class_probs, box_deltas])
    )
    assert np.isfinite(detections).all()
    live = detections[0, detections[0, :, 5] > 0]
    np.testing.assert_allclose(live, [[0.1, 0.1, 0.4, 0.4, 1.0, 0.9]], atol=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_image_through_the_graph_does_not_crash(bad):
    keras.utils.set_random_seed(0)
    model, _ = graph.build_inference_graph(TinyInferenceConfig())
    image = np.full((1, 128, 128, 3), 100.0, np.float32)
    image[0, 10:30, 10:30] = bad
    detections, masks = model(image)  # eager: NaN reaches the scores, and no score or box is kept
    assert not (keras.ops.convert_to_numpy(detections)[..., 5] > 0).any()
    detections, masks = model.predict_on_batch(image)  # compiled: finite outputs, no crash
    assert np.isfinite(detections).all() and np.isfinite(masks).all()
