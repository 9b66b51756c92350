"""Small matterport API points its samples rely on: image_reference's default, compute_ap without ground truth,
keras_model.save_weights("x.h5")."""

import h5py
import numpy as np
import pytest

from mrcnn import model as modellib
from mrcnn import utils
from mrcnn.data.dataset import image_label
from mrcnn.data.generator import AnnotationError, DataGenerator
from tests.tiny import TinyConfig, TinyInferenceConfig


class Plain(utils.Dataset):
    """A user dataset as matterport's samples write one: no image_reference override."""

    def load(self, folder):
        self.add_class("plain", 1, "thing")
        self.add_image("plain", image_id="a", path=str(folder / "a.png"))
        self.prepare()

    def load_image(self, image_id):
        return np.zeros((64, 64, 3), np.uint8)

    def load_mask(self, image_id):
        return np.zeros((32, 32, 1), bool), np.array([1], np.int32)  # wrong size: the message names the image


def test_image_reference_defaults_to_empty_and_messages_use_the_path(tmp_path):
    data = Plain()
    data.load(tmp_path)
    assert data.image_reference(0) == ""
    assert image_label(data, 0) == str(tmp_path / "a.png")
    with pytest.raises(AnnotationError, match="a.png"):
        DataGenerator(data, TinyConfig(), shuffle=False)[0]


def _matterport_compute_ap(num_predictions):
    """matterport's formula written out for no ground truth: recall 0/0, so nan unless nothing was predicted."""
    with np.errstate(invalid="ignore"):
        precisions = np.concatenate([[0], np.zeros(num_predictions), [0]])
        recalls = np.concatenate([[0], np.zeros(num_predictions) / 0, [1]])
    steps = np.where(recalls[:-1] != recalls[1:])[0] + 1
    return np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps])


def test_compute_ap_without_ground_truth_gives_matterports_value():
    no_gt = (np.zeros((0, 4)), np.zeros(0, int), np.zeros((32, 32, 0), bool))
    masks = np.zeros((32, 32, 2), bool)
    masks[:8, :8, 0] = masks[10:20, 10:20, 1] = True
    predictions = (utils.extract_bboxes(masks), np.array([1, 1]), np.array([0.9, 0.8]), masks)
    nothing = (np.zeros((0, 4)), np.zeros(0, int), np.zeros(0), np.zeros((32, 32, 0), bool))
    assert utils.compute_ap(*no_gt, *nothing)[0] == _matterport_compute_ap(0) == 0.0
    assert np.isnan(utils.compute_ap(*no_gt, *predictions)[0]) and np.isnan(_matterport_compute_ap(2))


@pytest.mark.parametrize("mode", ["inference", "training"])
def test_keras_model_save_weights_h5_writes_the_legacy_layout(mode, tmp_path):
    config = TinyInferenceConfig() if mode == "inference" else TinyConfig()
    model = modellib.MaskRCNN(mode, config, tmp_path)
    path = tmp_path / "mask_rcnn_shapes.h5"
    model.keras_model.save_weights(str(path))  # as train_shapes.ipynb does
    with h5py.File(path, "r") as f:
        assert b"mrcnn_mask" in list(f.attrs["layer_names"])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.keras_model.save_weights(str(path), overwrite=False)
    fresh = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    fresh.load_weights(str(path), by_name=True)
    expected = model.keras_model.get_layer("mrcnn_mask").get_weights()[0]
    np.testing.assert_array_equal(fresh.keras_model.get_layer("mrcnn_mask").get_weights()[0], expected)
    keras_format = tmp_path / "x.weights.h5"
    model.keras_model.save_weights(str(keras_format))  # Keras 3's own format still goes to Keras
    model.keras_model.load_weights(str(keras_format))


def test_inference_model_keeps_its_class_through_keras_saving(tmp_path):
    import keras

    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    model.keras_model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    restored.save_weights(str(tmp_path / "restored.h5"))
    assert (tmp_path / "restored.h5").is_file()
