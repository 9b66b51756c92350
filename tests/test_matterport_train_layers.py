"""matterport's `layers=` regexes (coco.py, the nucleus notebook) on our layer names, and a regex matching nothing.

matterport's "5+" preset is r"(res5.*)|(bn5.*)|(mrcnn\\_.*)|(rpn\\_.*)|(fpn\\_.*)" over its ResNet names
(res5a_branch2a, bn5a_branch2a, ...); here the ResNet is keras.applications' (conv5_block1_1_conv, ...).
"""

import pytest

from mrcnn import model as modellib
from mrcnn.engine import training
from tests.tiny import TinyConfig, TinyInferenceConfig, shapes

MATTERPORT_5_PLUS = r"(res5.*)|(bn5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)"


@pytest.fixture(scope="module")
def r50():
    config = TinyInferenceConfig(BACKBONE="resnet50", BACKBONE_OPTIONS={}, IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=64)
    return modellib.MaskRCNN("inference", config, "unused")


def test_matterport_regex_selects_stage_5_and_the_heads(r50):
    names = set(r50.set_trainable(MATTERPORT_5_PLUS, verbose=0))
    assert {"conv5_block1_1_conv", "conv5_block1_0_conv", "conv5_block3_3_conv", "mrcnn_mask", "rpn_class_raw"} <= names
    assert not any(n.startswith(("conv4_", "conv1_")) or n.endswith("_bn") for n in names)  # BN frozen (TRAIN_BN)
    assert names == set(r50.set_trainable(training.layers_pattern("5+", r50.backbone), verbose=0))


def test_bn_names_match_when_bn_trains(r50):
    names = training.set_trainable(r50.keras_model, r"(bn5.*)", train_bn=True)
    assert "conv5_block2_3_bn" in names and all(n.startswith("conv5_") and n.endswith("_bn") for n in names)


def test_a_regex_matching_nothing_raises_before_training(r50):
    with pytest.raises(ValueError, match=r"layers='res6\.\*' matches no layer.*conv1_conv"):
        r50.set_trainable(r"res6.*")
    trainer = modellib.MaskRCNN("training", TinyConfig(), "unused")
    data = shapes(2)
    with pytest.raises(ValueError, match="matches no layer"):
        trainer.train(data, data, learning_rate=0.01, epochs=1, layers=r"(res5.*)|(bn5.*)")  # mobilenet: no res5
