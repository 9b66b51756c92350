"""Training curves: TensorBoard epoch logs are read back and plotted into the run folder."""

import keras
import numpy as np
import pytest

from mrcnn.engine.history import read_history
from mrcnn.engine.recipe import write_curves


def test_curves_from_a_real_keras_tensorboard_log(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    data = np.ones((8, 2), "float32"), np.zeros((8, 1), "float32")
    callback = keras.callbacks.TensorBoard(str(tmp_path), write_graph=False, update_freq="epoch")
    model.fit(*data, validation_data=data, epochs=3, verbose=0, callbacks=[callback])
    history = read_history(tmp_path)
    assert [epoch for epoch, _ in history["train"]["loss"]] == [0, 1, 2]
    assert len(history["validation"]["loss"]) == 3
    path = write_curves(tmp_path, tmp_path / "curves.png")
    assert path == tmp_path / "curves.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_without_logs_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="No TensorBoard logs"):
        read_history(tmp_path)
