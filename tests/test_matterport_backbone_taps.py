"""The backbone layer names matterport's inspect notebooks read (res2c_out, res3d_out, res4w_out, res5c_out).

inspect_model.ipynb: run_graph([image], [("res4w_out", model.keras_model.get_layer("res4w_out").output), ...]).
"""

import keras
import numpy as np
import pytest

from mrcnn import model as modellib
from mrcnn.backbones import build_backbone
from tests.tiny import TinyInferenceConfig

STAGE_OUTPUTS = {  # matterport's name -> keras.applications' layer, blocks lettered a, b, c, ...
    "resnet50": {
        "res2c_out": "conv2_block3_out",
        "res3d_out": "conv3_block4_out",
        "res4f_out": "conv4_block6_out",
        "res5c_out": "conv5_block3_out",
    },
    "resnet101": {
        "res2c_out": "conv2_block3_out",
        "res3d_out": "conv3_block4_out",
        "res4w_out": "conv4_block23_out",
        "res5c_out": "conv5_block3_out",
    },
}


@pytest.mark.parametrize("name", sorted(STAGE_OUTPUTS))
def test_resnet_taps_carry_matterports_stage_names(name):
    backbone = build_backbone(name, input_shape=(64, 64, 3))
    assert backbone.tap_names == tuple(STAGE_OUTPUTS[name])
    for output, layer in zip(backbone.model.outputs, STAGE_OUTPUTS[name].values()):
        assert backbone.model.get_layer(layer).output is output


@pytest.fixture(scope="module")
def r101(tmp_path_factory):
    config = TinyInferenceConfig(BACKBONE="resnet101", BACKBONE_OPTIONS={}, IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64)
    return modellib.MaskRCNN("inference", config, tmp_path_factory.mktemp("logs"))


def test_run_graph_on_res4w_out_as_the_notebook_calls_it(r101):
    image = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    activations = r101.run_graph(
        [image],
        [
            ("res2c_out", r101.keras_model.get_layer("res2c_out").output),
            ("res3d_out", r101.keras_model.get_layer("res3d_out").output),
            ("res4w_out", r101.keras_model.get_layer("res4w_out").output),  # for resnet100
            ("res5c_out", r101.keras_model.get_layer("res5c_out").output),
        ],
    )
    assert [a.shape for a in activations.values()] == [
        (1, 16, 16, 256),
        (1, 8, 8, 512),
        (1, 4, 4, 1024),
        (1, 2, 2, 2048),
    ]
    body = r101.backbone.model
    c4 = keras.Model(body.inputs, body.get_layer("conv4_block23_out").output)
    molded = r101.mold_inputs([image])[0]
    np.testing.assert_allclose(activations["res4w_out"], c4.predict_on_batch(molded), rtol=1e-5, atol=1e-5)


def test_other_backbones_have_documented_tap_names():
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), "unused")
    assert model.backbone.tap_names == ("c2_out", "c3_out", "c4_out", "c5_out")
    outputs = model.run_graph([np.zeros((128, 128, 3), np.uint8)], [("c4", "c4_out")])
    assert outputs["c4"].shape == (1, 8, 8, model.backbone.channels[2])


def test_balloon_notebooks_block_names_give_the_stage_output_with_a_warning(tmp_path):
    # inspect_balloon_model's activation cell reads res2c_out, res3c_out (inside stage 3) and res4w_out.
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), str(tmp_path))
    for name, tap in (("res2c_out", "c2_out"), ("res3c_out", "c3_out"), ("res4w_out", "c4_out")):
        with pytest.warns(UserWarning, match=f"'{name}' is not a layer of this model: using '{tap}'"):
            assert model.keras_model.get_layer(name) is model.keras_model.get_layer(tap)
    with pytest.raises(ValueError, match="No such layer: res9c_out"):
        model.keras_model.get_layer("res9c_out")
    with pytest.raises(ValueError, match="No such layer: fpn_p7"):
        model.keras_model.get_layer("fpn_p7")


def test_resnet_block_inside_a_stage_gives_its_stage_output(r101):
    with pytest.warns(UserWarning, match="'res3c_out' is not a layer of this model: using 'res3d_out'"):
        assert r101.keras_model.get_layer("res3c_out") is r101.keras_model.get_layer("res3d_out")
