"""Anchor centres: matterport's i * stride (RPN_ANCHOR_OFFSET = 0.0) next to mrcnn's (i + 0.5) * stride.

matterport's inspect_model/inspect_data notebooks compare model.anchors with utils.generate_pyramid_anchors;
its trained files need its grid. Our files record the convention; files saved before the key keep 0.5.
"""

import json
import warnings

import h5py
import numpy as np
import pytest

from mrcnn import model as modellib
from mrcnn import utils
from mrcnn.config import Config
from mrcnn.weights import h5 as weights_io
from tests.tiny import TinyInferenceConfig


def test_generate_anchors_hand_computed_matterport_values():
    # One level, 2 x 3 cells, stride 16, scale 32, ratios 0.5 and 2: centres at (0, 0), (0, 16), ..., (16, 32).
    anchors = utils.generate_anchors(32, [0.5, 2], (2, 3), 16, 1)
    h, w = 32 / np.sqrt(0.5), 32 * np.sqrt(0.5)  # ratio 0.5: tall
    np.testing.assert_allclose(anchors[0], [-h / 2, -w / 2, h / 2, w / 2])
    np.testing.assert_allclose(anchors[1], [-w / 2, -h / 2, w / 2, h / 2])  # ratio 2: wide
    np.testing.assert_allclose(anchors[2], [-h / 2, 16 - w / 2, h / 2, 16 + w / 2])  # next column
    np.testing.assert_allclose(anchors[-1], [16 - w / 2, 32 - h / 2, 16 + w / 2, 32 + h / 2])
    assert anchors.shape == (2 * 3 * 2, 4)


@pytest.mark.parametrize("anchor_stride", [1, 2])
def test_model_anchors_follow_the_offset(anchor_stride):
    config = TinyInferenceConfig(RPN_ANCHOR_STRIDE=anchor_stride, RPN_ANCHOR_OFFSET=0.0)
    shapes = modellib.compute_backbone_shapes(config, config.IMAGE_SHAPE)
    expected = utils.generate_pyramid_anchors(
        config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, shapes, config.BACKBONE_STRIDES, anchor_stride
    )
    np.testing.assert_allclose(modellib.model_anchors(config, config.IMAGE_SHAPE), expected, atol=1e-4)
    centred = modellib.model_anchors(TinyInferenceConfig(RPN_ANCHOR_STRIDE=anchor_stride), config.IMAGE_SHAPE)
    per_level = [-(-h // anchor_stride) * -(-w // anchor_stride) * len(config.RPN_ANCHOR_RATIOS) for h, w in shapes]
    strides = np.repeat(config.BACKBONE_STRIDES, per_level)[:, None]
    np.testing.assert_allclose(centred - expected, 0.5 * strides * np.ones(4), atol=1e-4)  # mrcnn: half a stride on


def test_offset_is_checked():
    with pytest.raises(ValueError, match="RPN_ANCHOR_OFFSET"):
        Config(RPN_ANCHOR_OFFSET=1.0)


@pytest.fixture(scope="module")
def corner_model(tmp_path_factory):
    return modellib.MaskRCNN(
        "inference",
        TinyInferenceConfig(RPN_ANCHOR_OFFSET=0.0, BOX_NORMALIZATION="matterport"),
        tmp_path_factory.mktemp("l"),
    )


def test_in_graph_anchors_are_matterports(corner_model):
    image = np.zeros((128, 128, 3), np.uint8)
    graph_anchors = corner_model.run_graph([image], [("anchors", "anchors")])["anchors"]
    np.testing.assert_allclose(graph_anchors, corner_model.get_anchors((128, 128, 3)), atol=1e-6)
    np.testing.assert_allclose(corner_model.anchors[0], utils.generate_anchors(8, [0.5], (1, 1), 4, 1)[0], atol=1e-5)


def test_weights_file_records_the_offset(corner_model, tmp_path):
    path = tmp_path / "corner.h5"
    corner_model.save_weights(str(path))
    assert weights_io.read_metadata(path)["config"]["RPN_ANCHOR_OFFSET"] == 0.0
    assert modellib.MaskRCNN.from_weights(path, model_dir=tmp_path).config.RPN_ANCHOR_OFFSET == 0.0
    centred = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    with pytest.warns(UserWarning, match=r"RPN_ANCHOR_OFFSET file=0\.0 model=0\.5"):
        centred.load_weights(str(path), by_name=True)


def test_file_without_the_key_reads_as_centred(corner_model, tmp_path):
    path = tmp_path / "old.h5"
    corner_model.save_weights(str(path))
    with h5py.File(path, "a") as f:  # a file written before the key existed
        config = json.loads(f.attrs["mrcnn_config"])
        del config["RPN_ANCHOR_OFFSET"]
        f.attrs["mrcnn_config"] = json.dumps(config)
    assert modellib.MaskRCNN.from_weights(path, model_dir=tmp_path).config.RPN_ANCHOR_OFFSET == 0.5
    with pytest.warns(UserWarning, match=r"RPN_ANCHOR_OFFSET file=0\.5 model=0\.0"):
        corner_model.load_weights(str(path), by_name=True)


def _matterport_rpn_file(model, path):
    """A matterport-layout file holding only its nested rpn_model group (as Keras 2 wrote it)."""
    layers = weights_io.weight_layers(model.keras_model)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"rpn_model"])
        group = f.create_group("rpn_model")
        names = []
        for name in ("rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred"):
            for suffix, weight in zip(("kernel", "bias"), layers[name].weights):
                names.append(f"rpn_model/{name}/{suffix}:0")
                group.create_dataset(names[-1], data=np.asarray(weight))
        group.attrs["weight_names"] = np.array([n.encode() for n in names])


def test_matterport_file_warns_unless_its_grid_is_used(corner_model, tmp_path):
    path = tmp_path / "mask_rcnn_like.h5"
    _matterport_rpn_file(corner_model, path)
    centred = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    with pytest.warns(UserWarning, match=r"matterport file.*RPN_ANCHOR_OFFSET = 0\.0"):
        centred.load_weights(str(path), by_name=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        corner_model.load_weights(str(path), by_name=True)


def test_notebook_anchors_are_the_models_anchors_with_octaves():
    # inspect_balloon_data: generate_pyramid_anchors(5 config values) indexed with the data generator's rpn_match.
    config = TinyInferenceConfig(RPN_ANCHOR_OCTAVES=(1.0, 2 ** (1 / 3), 2 ** (2 / 3)))
    shapes = modellib.compute_backbone_shapes(config, config.IMAGE_SHAPE)
    anchors = utils.generate_pyramid_anchors(
        config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS, shapes, config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE
    )
    np.testing.assert_array_equal(anchors, modellib.model_anchors(config, config.IMAGE_SHAPE))
    assert len(anchors) == 3 * sum(h * w for h, w in shapes) * len(config.RPN_ANCHOR_RATIOS)
    # A plain tuple keeps matterport's grid; the config's scales still compare, print and store as before.
    plain = utils.generate_pyramid_anchors(
        tuple(config.RPN_ANCHOR_SCALES), config.RPN_ANCHOR_RATIOS, shapes, config.BACKBONE_STRIDES, 1
    )
    assert len(plain) == len(anchors) // 3
    assert config.RPN_ANCHOR_SCALES == (8, 16, 32, 64, 128) and repr(config.RPN_ANCHOR_SCALES) == "(8, 16, 32, 64, 128)"
    assert json.loads(config.to_json())["RPN_ANCHOR_SCALES"] == [8, 16, 32, 64, 128]


def test_config_copies_keep_the_anchor_rule():
    import copy
    import pickle

    config = TinyInferenceConfig(RPN_ANCHOR_OCTAVES=(1.0, 1.5))
    for scales in (pickle.loads(pickle.dumps(config)).RPN_ANCHOR_SCALES, copy.deepcopy(config).RPN_ANCHOR_SCALES):
        assert (tuple(scales), scales.octaves, scales.offset) == ((8, 16, 32, 64, 128), (1.0, 1.5), 0.5)
