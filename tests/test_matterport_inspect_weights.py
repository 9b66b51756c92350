"""matterport's samples/coco/inspect_weights.ipynb calls on a tiny inference model."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from mrcnn import model as modellib  # noqa: E402
from mrcnn import visualize  # noqa: E402
from tests.tiny import TinyInferenceConfig  # noqa: E402


def test_inspect_weights_cells():
    model = modellib.MaskRCNN(mode="inference", config=TinyInferenceConfig(), model_dir="unused")
    rows = visualize.display_weight_stats(model)
    assert len(rows) == 1 + len(model.keras_model.weights)
    assert all(len(row) == 5 for row in rows)
    layer_types = ["Conv2D", "Dense", "Conv2DTranspose"]
    layers = [layer for layer in model.get_trainable_layers() if type(layer).__name__ in layer_types]
    assert layers
    for layer in layers:
        weights = model.find_trainable_layer(layer).get_weights()
        assert all(np.isfinite(w).all() for w in weights)
