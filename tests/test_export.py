"""Export: the SavedModel reproduces detect() in plain TensorFlow; in-graph mold/unmold; CLI errors."""

import json
import os
import subprocess
import sys
import textwrap
import types

import keras
import numpy as np
import pytest
from PIL import Image
from tiny import TinyInferenceConfig, shapes

from mrcnn import export, utils
from mrcnn import model as modellib
from mrcnn.cli import commands as cli
from mrcnn.inference import mold
from mrcnn.weights import h5 as weights_io

# Runs in a fresh interpreter that never imports mrcnn: plain TensorFlow only.
RELOAD_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    model = tf.saved_model.load(sys.argv[1])
    images = np.load(sys.argv[2])
    results = {}
    for key in images.files:
        for name, value in model.serve(tf.constant(images[key])).items():
            results[f"{key}/{name}"] = value.numpy()
    assert not any(name.split(".")[0] == "mrcnn" for name in sys.modules), "mrcnn was imported"
    np.savez(sys.argv[3], **results)
""")


def _test_images():
    data = shapes(3, 128)
    return {
        "exact_fit": data.load_image(0)[:64],  # 64 x 128: padding only, no resize
        "upscaled": data.load_image(1)[10:110, 5:95],  # 100 x 90 → x1.28
        "downscaled": np.asarray(Image.fromarray(data.load_image(2)).resize((200, 300), Image.BILINEAR)),
    }


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """Tiny model with the ImageNet MobileNet body and seeded random heads (mask logits sharpened),
    so that scores and masks are not all alike (an untrained body gives near-zero features)."""
    keras.utils.set_random_seed(0)
    model = modellib.MaskRCNN(
        "inference", TinyInferenceConfig(DETECTION_MAX_INSTANCES=20), tmp_path_factory.mktemp("logs")
    )
    try:
        model.load_weights(model.get_imagenet_weights(), by_name=True)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    layers = weights_io.weight_layers(model.keras_model)
    kernel, bias = layers["mrcnn_mask"].get_weights()
    layers["mrcnn_mask"].set_weights([kernel * 10, bias])
    return model


@pytest.fixture(scope="module")
def saved_model(model, tmp_path_factory):
    return export.export_savedmodel(model, tmp_path_factory.mktemp("export") / "savedmodel")


def _mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def test_savedmodel_in_plain_tensorflow_matches_detect(model, saved_model, tmp_path):
    """Tolerances: the in-graph resize reproduces PIL's to within one grey level, so boxes may
    move by a pixel or two and scores by ~1e-6 on resized images; the exact-fit image is identical."""
    images = _test_images()
    np.savez(tmp_path / "images.npz", **images)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": ""}
    subprocess.run(
        [sys.executable, "-c", RELOAD_SCRIPT, saved_model, str(tmp_path / "images.npz"), str(tmp_path / "out.npz")],
        check=True,
        env=env,
        cwd=tmp_path,
        capture_output=True,
    )
    outputs = np.load(tmp_path / "out.npz")
    for key, image in images.items():
        expected = model.detect([image])[0]
        got = {name: outputs[f"{key}/{name}"] for name in ("rois", "class_ids", "scores", "masks")}
        count = len(expected["class_ids"])
        assert count > 0 and len(got["class_ids"]) == count, key
        assert got["masks"].shape == (count,) + image.shape[:2] and got["masks"].dtype == np.uint8
        np.testing.assert_array_equal(got["class_ids"], expected["class_ids"])
        assert np.abs(got["rois"] - expected["rois"]).max() <= 2, key
        np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-3)
        ious = [_mask_iou(got["masks"][i].astype(bool), expected["masks"][..., i]) for i in range(count)]
        assert min(ious) > 0.9, (key, ious)
        if key == "exact_fit":
            np.testing.assert_array_equal(got["rois"], expected["rois"])
    assert len(set(np.round(outputs["exact_fit/scores"], 4))) > 1  # the scores are not all alike


@pytest.mark.parametrize("shape", [(64, 128), (100, 90), (300, 200), (37, 250), (50, 51), (1000, 700)])
def test_in_graph_mold_matches_pil_resize(shape):
    image = (np.random.default_rng(sum(shape)).random(shape + (3,)) * 255).astype(np.uint8)
    molded, window, scale = export.mold_image(image, 128, 128, 128)
    expected, expected_window, expected_scale, _, _ = utils.resize_image(image, 128, 128, 0, "square")
    difference = np.abs(np.asarray(molded) - expected.astype(np.float32))
    assert difference.max() <= 1.0  # PIL rounds fixed-point weights; at most one grey level apart
    assert difference.mean() < 0.05
    np.testing.assert_array_equal(np.asarray(window), expected_window)
    assert float(scale) == pytest.approx(expected_scale, rel=1e-6)


@pytest.mark.parametrize("per_instance", [True, False])
def test_in_graph_paste_matches_numpy_paste(per_instance):
    rng = np.random.default_rng(3)
    masks = rng.random((5, 28, 28)).astype(np.float32)
    boxes = np.array(
        [[3.2, 4.7, 40.1, 30.0], [0, 0, 60, 50], [10, 10, 11, 12], [-5, 20, 30, 70], [59.5, 49.5, 60, 50]], np.float32
    )
    expected = mold.paste_masks(masks, boxes, (60, 50))
    got = np.asarray(export.paste_masks(masks, boxes, 60, 50, per_instance=per_instance))
    assert got.shape == (5, 60, 50) and got.dtype == np.uint8
    mismatched = np.mean(np.moveaxis(got.astype(bool), 0, -1) != expected)
    assert mismatched < 1e-3  # float32 rounding exactly at the 0.5 threshold only


def test_no_detections_give_empty_outputs(model, tmp_path):
    empty = modellib.MaskRCNN("inference", TinyInferenceConfig(DETECTION_MIN_CONFIDENCE=0.9999), tmp_path)
    result = export.serving_function(empty)(np.zeros((40, 30, 3), np.uint8))
    assert tuple(result["rois"].shape) == (0, 4)
    assert tuple(result["masks"].shape) == (0, 40, 30)


def test_export_refuses_training_models_and_unknown_formats(tmp_path):
    from tiny import TinyConfig

    trainer = modellib.MaskRCNN("training", TinyConfig(), tmp_path)
    with pytest.raises(export.ExportError, match="inference"):
        export.export_savedmodel(trainer, tmp_path / "out")
    with pytest.raises(export.ExportError, match="savedmodel, tflite, onnx"):
        export.export(trainer, tmp_path / "out", "caffe")


def test_cli_exports_a_savedmodel_and_reports_errors_in_one_line(model, tmp_path, capsys):
    weights = tmp_path / "tiny.h5"
    model.save_weights(weights)
    out = tmp_path / "served"
    assert cli.main(["export", "--weights", str(weights), "--format", "savedmodel", "--out", str(out)]) == 0
    assert (out / "saved_model.pb").is_file()
    assert cli.main(["export", "--weights", str(tmp_path / "missing.h5"), "--out", str(tmp_path / "x")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("mrcnn export: error:") and "missing.h5" in error and "Traceback" not in error
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_tflite_export_matches_detect(model, tmp_path):
    """TFLite builtin ops only: ROIAlign gathers its 4 corners separately (TFLite slices are <= 5-D)."""
    import tensorflow as tf

    path = export.export_tflite(model, tmp_path / "tflite")
    runner = tf.lite.Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    image = _test_images()["exact_fit"]
    got = runner(image=image)
    expected = model.detect([image])[0]
    assert len(expected["class_ids"]) > 0
    np.testing.assert_array_equal(got["class_ids"], expected["class_ids"])
    assert np.abs(got["rois"] - expected["rois"]).max() <= 1
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-3)
    ious = [_mask_iou(got["masks"][i].astype(bool), expected["masks"][..., i]) for i in range(len(got["class_ids"]))]
    assert min(ious) > 0.9


@pytest.mark.slow
def test_onnx_export_matches_the_savedmodel(model, saved_model, tmp_path):
    pytest.importorskip("tf2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    path = export.export_onnx(model, tmp_path / "onnx")
    session = onnxruntime.InferenceSession(path)
    names = [output.name for output in session.get_outputs()]
    image = _test_images()["exact_fit"]
    got = dict(zip(names, session.run(None, {session.get_inputs()[0].name: image})))
    expected = model.detect([image])[0]
    np.testing.assert_array_equal(got["class_ids"], expected["class_ids"])
    assert np.abs(got["rois"] - expected["rois"]).max() <= 1
    np.testing.assert_allclose(got["scores"], expected["scores"], atol=1e-3)
    assert json.dumps(sorted(names)) == json.dumps(["class_ids", "masks", "rois", "scores"])


def test_a_bfloat16_model_is_refused_for_tflite_with_the_fix(tmp_path):
    model = types.SimpleNamespace(precision="mixed_bfloat16")
    with pytest.raises(export.ExportError, match="PRECISION='float32'"):
        export.export_tflite(model, tmp_path / "t")
    assert not (tmp_path / "t").exists()


@pytest.mark.slow
def test_a_gray_model_exports_with_a_one_channel_input(tmp_path):
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    config = TinyInferenceConfig(IMAGE_CHANNEL_COUNT=1, DETECTION_MIN_CONFIDENCE=0.0, DETECTION_MAX_INSTANCES=5)
    gray = modellib.MaskRCNN("inference", config, tmp_path)
    path = export.export_savedmodel(gray, tmp_path / "gray")
    image = shapes(1, 128).load_image(0)[:64, :, :1]  # 64 x 128: padding only, so rois match exactly
    loaded = tf.saved_model.load(path)  # kept: its variables must outlive the call
    got = loaded.serve(tf.constant(image))
    expected = gray.detect([image])[0]
    assert len(expected["class_ids"]) > 0
    np.testing.assert_array_equal(got["rois"].numpy(), expected["rois"])
    np.testing.assert_array_equal(got["class_ids"].numpy(), expected["class_ids"])
    assert tuple(got["masks"].shape) == (len(expected["class_ids"]), 64, 128)
