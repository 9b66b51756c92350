"""mrcnn.modeling.macs: hand-counted MACs per layer type, nested/shared models, and the Mask R-CNN split."""

import keras
import pytest
from tiny import TinyInferenceConfig

from mrcnn.modeling.macs import SECTIONS, layer_macs, mask_rcnn_macs, model_macs


def one_layer(layer, input_shape):
    """MACs of `layer` in a model on `input_shape` (no batch axis), counted through the graph."""
    image = keras.Input(input_shape)
    return model_macs(keras.Model(image, layer(image)))


@pytest.mark.parametrize(
    "layer, input_shape, expected",
    [
        # 8x8 outputs x 8 filters x (3x3 kernel x 4 input channels)
        (keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c"), (16, 16, 4), 8 * 8 * 8 * 3 * 3 * 4),
        # groups=2: each output channel sees 4 / 2 input channels
        (keras.layers.Conv2D(8, 1, groups=2, name="c"), (4, 4, 4), 4 * 4 * 8 * 2),
        # valid 3x3 on 10x10: 8x8 outputs x (3 channels x multiplier 2) x 3x3, no sum over channels
        (keras.layers.DepthwiseConv2D(3, depth_multiplier=2, name="c"), (10, 10, 3), 8 * 8 * 6 * 9),
        # depthwise 5x5 positions x 4 channels x 3x3, then pointwise 5x5 x 4 -> 6
        (keras.layers.SeparableConv2D(6, 3, padding="same", name="c"), (5, 5, 4), 5 * 5 * 4 * 9 + 5 * 5 * 4 * 6),
        # every one of 4x4 input positions x 5 channels spreads a 2x2 kernel over 3 output channels
        (keras.layers.Conv2DTranspose(3, 2, strides=2, name="c"), (4, 4, 5), 4 * 4 * 5 * 2 * 2 * 3),
        (keras.layers.Dense(5, name="c"), (7,), 7 * 5),
        # Dense on the last axis of [3, 7]: 3 rows x 7 x 5
        (keras.layers.Dense(5, name="c"), (3, 7), 3 * 7 * 5),
        # matterport's heads: TimeDistributed over 3 ROIs of a Dense 7 -> 5, and of a 2x2 conv on 2x2 crops
        (keras.layers.TimeDistributed(keras.layers.Dense(5), name="c"), (3, 7), 3 * 7 * 5),
        (keras.layers.TimeDistributed(keras.layers.Conv2D(4, 2), name="c"), (3, 2, 2, 6), 3 * 1 * 4 * 2 * 2 * 6),
    ],
)
def test_hand_counted_layers(layer, input_shape, expected):
    assert one_layer(layer, input_shape) == {"c": expected}


def test_layers_without_macs_count_zero():
    image = keras.Input((8, 8, 4))
    x = keras.layers.BatchNormalization()(image)
    x = keras.layers.MaxPooling2D()(keras.layers.ReLU()(x))
    assert model_macs(keras.Model(image, keras.layers.UpSampling2D()(x))) == {}


def test_batch_multiplies_and_unknown_sizes_raise():
    dense = keras.layers.Dense(5)
    dense.build((None, 7))
    assert layer_macs(dense, (4, 7), (4, 5)) == 4 * 7 * 5
    with pytest.raises(ValueError, match="unknown sizes"):
        model_macs(keras.Model(image := keras.Input((None, None, 3)), keras.layers.Conv2D(2, 1)(image)))


def test_shared_nested_model_counts_each_call_at_its_size():
    feature = keras.Input((None, None, 4))
    head = keras.Model(feature, keras.layers.Conv2D(2, 3, padding="same", name="shared")(feature), name="head")
    image = keras.Input((8, 8, 4))
    small = keras.layers.MaxPooling2D(name="pool")(image)
    model = keras.Model(image, [head(image), head(small)])
    assert model_macs(model) == {"head/shared": (8 * 8 + 4 * 4) * 2 * 3 * 3 * 4}


@pytest.fixture(scope="module")
def tiny_counts(tmp_path_factory):
    from mrcnn.model import MaskRCNN

    config = TinyInferenceConfig()
    return config, mask_rcnn_macs(MaskRCNN("inference", config, str(tmp_path_factory.mktemp("logs"))))


def test_mask_rcnn_split_sums_to_total(tiny_counts):
    config, counts = tiny_counts
    assert counts["total"] == sum(counts[s] for s in SECTIONS) == sum(layer["macs"] for layer in counts["layers"])
    assert all(counts[s] > 0 for s in SECTIONS) and counts["image_shape"] == [128, 128]
    sections = {layer["name"]: layer["section"] for layer in counts["layers"]}
    assert sections["fpn_p2"] == sections["rpn_model/rpn_conv_shared"] == "fpn_rpn"
    assert sections["mrcnn_class_conv1"] == sections["mrcnn_mask"] == "heads"
    assert {s for n, s in sections.items() if n.startswith("mobilenet_v1/")} == {"body"}


def test_mask_rcnn_heads_use_the_stated_roi_counts(tiny_counts):
    config, counts = tiny_counts
    rois = {"roi_align_classifier": config.POST_NMS_ROIS_INFERENCE, "roi_align_mask": config.DETECTION_MAX_INSTANCES}
    assert counts["rois"] == rois
    layers = {layer["name"]: layer["macs"] for layer in counts["layers"]}
    pool, fpn, fc = config.POOL_SIZE, config.TOP_DOWN_PYRAMID_SIZE, config.FPN_CLASSIF_FC_LAYERS_SIZE
    assert layers["mrcnn_class_conv1"] == rois["roi_align_classifier"] * pool * pool * fpn * fc
    mask_pool, channels = config.MASK_POOL_SIZE, config.MASK_HEAD_CHANNELS
    assert layers["mrcnn_mask_conv1"] == rois["roi_align_mask"] * mask_pool**2 * 3 * 3 * fpn * channels
    # The RPN head runs on P2..P6: (32² + 16² + 8² + 4² + 2²) positions at 128 px.
    assert layers["rpn_model/rpn_conv_shared"] == (1024 + 256 + 64 + 16 + 4) * 3 * 3 * fpn * config.RPN_CONV_CHANNELS


def test_training_graph_heads_count_training_rois(tmp_path):
    from tiny import TinyConfig

    from mrcnn.model import MaskRCNN

    config = TinyConfig()
    counts = mask_rcnn_macs(MaskRCNN("training", config, str(tmp_path)))
    rois = counts["rois"]
    assert (
        rois["roi_align_classifier"] == config.TRAIN_ROIS_PER_IMAGE
        and 0 < rois["roi_align_mask"] < rois["roi_align_classifier"]
    )
    assert counts["image_shape"] == [128, 128] and counts["total"] == sum(counts[s] for s in SECTIONS)
    layers = {layer["name"]: layer["macs"] for layer in counts["layers"]}
    pool, fpn, fc = config.POOL_SIZE, config.TOP_DOWN_PYRAMID_SIZE, config.FPN_CLASSIF_FC_LAYERS_SIZE
    assert layers["mrcnn_class_conv1"] == config.TRAIN_ROIS_PER_IMAGE * pool * pool * fpn * fc
