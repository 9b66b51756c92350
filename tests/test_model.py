"""MaskRCNN facade: detect contract, weights round trips, training edge cases, resume, presets."""

import math
import re

import h5py
import numpy as np
import pytest
from tiny import TinyConfig, TinyInferenceConfig, shapes

from mrcnn import model as modellib
from mrcnn.engine import training
from mrcnn.inference.mold import ImageError
from mrcnn.weights import h5 as weights_io

HEADS = ["mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A training model after one tiny epoch, and its checkpoint."""
    logs = tmp_path_factory.mktemp("logs")
    model = modellib.MaskRCNN("training", TinyConfig(), logs)
    data = shapes()
    model.train(data, data, learning_rate=0.001, epochs=1, layers="heads")
    return model, model.find_last()


@pytest.fixture(scope="module")
def inference(trained):
    _, checkpoint = trained
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), str(trained[0].model_dir))
    model.load_weights(checkpoint, by_name=True)
    return model


def test_detect_contract_at_odd_sizes(inference):
    gray = (np.random.default_rng(0).random((101, 157)) * 255).astype(np.uint8)
    rgba = np.zeros((64, 33, 4), np.uint8)
    results = inference.detect([gray, rgba])
    assert len(results) == 2
    for result, shape in zip(results, [(101, 157), (64, 33)]):
        assert set(result) == {"rois", "class_ids", "scores", "masks"}
        n = len(result["class_ids"])
        assert n > 0  # DETECTION_MIN_CONFIDENCE = 0 keeps every live ROI
        assert result["rois"].dtype == np.int32 and result["rois"].shape == (n, 4)
        assert result["class_ids"].dtype == np.int32 and result["class_ids"].min() >= 1
        assert result["scores"].dtype == np.float32 and np.all(np.diff(result["scores"]) <= 1e-6)
        assert result["masks"].dtype == bool and result["masks"].shape == shape + (n,)
        rois = result["rois"]
        assert np.all(rois[:, :2] >= 0) and np.all(rois[:, 2] <= shape[0]) and np.all(rois[:, 3] <= shape[1])
        assert np.all(rois[:, 2] > rois[:, 0]) and np.all(rois[:, 3] > rois[:, 1])


def test_mask_pixels_stay_inside_their_box(inference):
    image = shapes().load_image(0)
    result = inference.detect([image])[0]
    for i, (y1, x1, y2, x2) in enumerate(result["rois"]):
        outside = result["masks"][:, :, i].copy()
        outside[max(y1 - 1, 0) : y2 + 1, max(x1 - 1, 0) : x2 + 1] = False
        assert not outside.any()


@pytest.mark.parametrize(
    "bad, error, message",
    [
        (np.zeros((32, 32, 2), np.uint8), ImageError, r"\[H, W, 3\]"),
        (np.zeros((32, 32, 3), bool), ImageError, "uint8"),
        (np.full((32, 32, 3), 300.0), ImageError, r"\[0, 255\]"),
        ("photo.jpg", ImageError, "numpy array"),
    ],
)
def test_detect_rejects_bad_images(inference, bad, error, message):
    with pytest.raises(error, match=message):
        inference.detect([bad])


def test_detect_wants_a_list_and_inference_mode(inference, trained):
    with pytest.raises(TypeError, match="list"):
        inference.detect(np.zeros((32, 32, 3), np.uint8))
    assert inference.detect([]) == []
    with pytest.raises(ValueError, match="inference"):
        trained[0].detect([np.zeros((32, 32, 3), np.uint8)])


def test_save_load_gives_identical_detections(inference, tmp_path):
    image = shapes().load_image(1)
    before = inference.detect([image])[0]
    path = tmp_path / "saved.h5"
    inference.save_weights(path)
    again = modellib.MaskRCNN.from_weights(path, model_dir=tmp_path)
    after = again.detect([image])[0]
    assert again.class_names == ["BG", "square", "circle", "triangle"]
    for key in before:
        np.testing.assert_array_equal(before[key], after[key])


def test_exclude_leaves_the_heads_untouched(trained, tmp_path):
    _, checkpoint = trained
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    layers = weights_io.weight_layers(model.keras_model)
    fresh_head = [w.copy() for w in layers["mrcnn_mask"].get_weights()]
    fresh_rpn = layers["rpn_conv_shared"].get_weights()[0].copy()
    model.load_weights(checkpoint, by_name=True, exclude=HEADS)
    for before, after in zip(fresh_head, layers["mrcnn_mask"].get_weights()):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(fresh_rpn, layers["rpn_conv_shared"].get_weights()[0])
    assert "mrcnn_mask" not in model.load_report["loaded"]


def test_class_count_mismatch_explains_exclude(trained, tmp_path):
    _, checkpoint = trained
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(NUM_CLASSES=2), tmp_path)
    with pytest.raises(weights_io.WeightsFileError, match="exclude"):
        model.load_weights(checkpoint, by_name=True)
    model.load_weights(checkpoint, by_name=True, exclude=HEADS)
    assert "fpn_p2" in model.load_report["loaded"]


def test_missing_and_corrupt_weight_files(inference, tmp_path):
    with pytest.raises(weights_io.WeightsFileError, match="not found"):
        inference.load_weights(tmp_path / "nope.h5", by_name=True)
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"this is not hdf5")
    with pytest.raises(weights_io.WeightsFileError, match="not a valid HDF5"):
        inference.load_weights(corrupt, by_name=True)
    unrelated = tmp_path / "unrelated.h5"
    with h5py.File(unrelated, "w") as f:
        f.attrs["layer_names"] = np.array([b"something_else"])
        f.create_group("something_else").attrs["weight_names"] = np.array([b"something_else/kernel:0"])
        f["something_else"].create_dataset("something_else/kernel:0", data=np.zeros(3))
    with pytest.raises(weights_io.WeightsFileError, match="no layer name matches"):
        inference.load_weights(unrelated, by_name=True)


def test_strict_load_lists_missing_layers(trained, tmp_path):
    _, checkpoint = trained
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path)
    imagenet = model.get_imagenet_weights()
    with pytest.raises(weights_io.WeightsFileError, match="fpn_c5p5"):
        model.load_weights(imagenet, by_name=False)


def test_image_without_instances_trains(tmp_path):
    data = shapes(count=2)
    data.image_info[0]["shapes"] = []  # image 0 has no objects at all
    model = modellib.MaskRCNN("training", TinyConfig(STEPS_PER_EPOCH=1), tmp_path)
    history = model.train(data, None, learning_rate=0.001, epochs=1, layers="all")
    losses = history.history
    assert all(math.isfinite(v[-1]) for v in losses.values())


def test_resume_continues_from_the_last_checkpoint(trained, tmp_path):
    first, checkpoint = trained
    assert re.search(r"mask_rcnn_tiny_0001\.h5$", checkpoint)
    resumed = modellib.MaskRCNN("training", TinyConfig(), first.model_dir)
    resumed.load_weights(resumed.find_last(), by_name=True)
    assert resumed.epoch == 1 and resumed.log_dir == first.log_dir
    data = shapes()
    resumed.train(data, None, learning_rate=0.001, epochs=2, layers="heads")
    assert resumed.find_last().endswith("mask_rcnn_tiny_0002.h5")
    assert resumed.epoch == 2


def test_find_last_without_runs_says_what_to_do(tmp_path):
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(), tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="train first"):
        model.find_last()


@pytest.mark.parametrize("preset", ["heads", "4+", "all"])
def test_layer_presets_keep_batchnorm_frozen(trained, preset):
    model = trained[0]
    names = model.set_trainable(training.layers_pattern(preset, model.backbone))
    layers = weights_io.weight_layers(model.keras_model)
    assert all(not layers[n].__class__.__name__ == "BatchNormalization" for n in names)
    heads = [n for n in names if re.match(r"(mrcnn|rpn|fpn)_", n)]
    backbone = [n for n in names if n not in heads]
    assert "mrcnn_mask" in heads and "rpn_conv_shared" in heads
    if preset == "heads":
        assert backbone == []
    elif preset == "4+":
        assert "conv_pw_11" in backbone and "conv_pw_5" not in backbone
    else:
        assert "conv1" in backbone and "conv_pw_5" in backbone


def test_bad_layers_value():
    with pytest.raises(ValueError, match="preset"):
        training.layers_pattern("(unclosed", backbone=None)


def test_nan_loss_stops_with_a_clear_message():
    callback = training.StopOnNaN()

    class Dummy:
        stop_training = False

    callback.set_model(Dummy())
    with pytest.raises(training.TrainingDivergedError, match="LEARNING_RATE"):
        callback.on_train_batch_end(3, {"loss": float("nan")})
    assert callback.model.stop_training


@pytest.mark.parametrize("jit", [False, True])
def test_both_xla_settings_run(jit, tmp_path):
    """Keras' jit_compile="auto" would enable XLA only where a GPU is visible: both paths must work here."""
    model = modellib.MaskRCNN("inference", TinyInferenceConfig(JIT_COMPILE=jit), tmp_path)
    result = model.detect([np.full((96, 80, 3), 128, np.uint8)])[0]
    assert result["masks"].shape[:2] == (96, 80)
    trainer = modellib.MaskRCNN("training", TinyConfig(JIT_COMPILE=jit, STEPS_PER_EPOCH=1), tmp_path)
    history = trainer.train(shapes(count=2), None, learning_rate=0.001, epochs=1, layers="heads")
    assert math.isfinite(history.history["loss"][-1])


def _box_iou(a, b):
    """IoU of two pixel boxes (y1, x1, y2, x2), y2/x2 exclusive."""
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union else 0.0


def _flip_tta_by_hand(plain, flipped, width, max_instances, nms_threshold):
    """The documented flip-TTA rule, written out with loops over whole-image masks (mrcnn.inference.flip_tta).

    The mirrored pass is mapped back (x -> width - x); each plain detection, best score first, pairs with the
    unused mirrored one of its class whose mask IoU is highest and >= 0.5 and gets the mean score; unpaired
    plain ones get half. An unpaired mirrored one is added at half score unless its box overlaps a plain
    detection of its class by more than the NMS threshold. Then best score first, at most max_instances.
    """
    m_rois = [(y1, width - x2, y2, width - x1) for y1, x1, y2, x2 in flipped["rois"].tolist()]
    m_masks = flipped["masks"][:, ::-1]
    p_rois = plain["rois"].tolist()
    pairs = {}
    for i in sorted(range(len(p_rois)), key=lambda k: -plain["scores"][k]):
        best, best_iou = None, 0.0
        for j in range(len(m_rois)):
            if j in pairs.values() or flipped["class_ids"][j] != plain["class_ids"][i]:
                continue
            a, b = plain["masks"][:, :, i], m_masks[:, :, j]
            iou = np.logical_and(a, b).sum() / max(np.logical_or(a, b).sum(), 1)
            if iou > best_iou:
                best, best_iou = j, iou
        if best is not None and best_iou >= 0.5:
            pairs[i] = best
    rows = []  # (score, roi, class id, mask)
    for i, roi in enumerate(p_rois):
        other = flipped["scores"][pairs[i]] if i in pairs else np.float32(0)
        rows.append(((plain["scores"][i] + other) / np.float32(2), roi, plain["class_ids"][i], plain["masks"][:, :, i]))
    for j, roi in enumerate(m_rois):
        same_class = [r for r, c in zip(p_rois, plain["class_ids"]) if c == flipped["class_ids"][j]]
        if j not in pairs.values() and all(_box_iou(r, roi) <= nms_threshold for r in same_class):
            rows.append((flipped["scores"][j] / np.float32(2), list(roi), flipped["class_ids"][j], m_masks[:, :, j]))
    rows = sorted(rows, key=lambda row: -row[0])[:max_instances]
    return {
        "scores": np.array([r[0] for r in rows], np.float32),
        "rois": np.array([r[1] for r in rows], np.int32).reshape(-1, 4),
        "class_ids": np.array([r[2] for r in rows], np.int32),
        "masks": np.stack([r[3] for r in rows], axis=2),
    }, len(pairs)


def test_flip_tta_merges_the_plain_and_mirrored_passes(inference, monkeypatch):
    images = [shapes().load_image(2), shapes().load_image(3)[:, :100]]  # two images, two widths
    config = inference.config
    # Both images in one batch, for the expectation too: batch-of-1 and batch-of-2 passes may differ
    # in the last bit, and a mask pixel with them. The results must stay in image order.
    monkeypatch.setattr(config, "BATCH_SIZE", 2)
    plain = inference.detect(images)
    flipped = inference.detect([np.ascontiguousarray(image[:, ::-1]) for image in images])
    monkeypatch.setattr(config, "DETECTION_FLIP_TTA", True)
    results = inference.detect(images)
    for result, p, f, image in zip(results, plain, flipped, images):
        want, paired = _flip_tta_by_hand(
            p, f, image.shape[1], config.DETECTION_MAX_INSTANCES, config.DETECTION_NMS_THRESHOLD
        )
        assert paired > 0 and len(want["scores"]) > 0  # both rules (mean and half score) are exercised
        np.testing.assert_allclose(result["scores"], want["scores"], rtol=1e-6)
        for key in ("rois", "class_ids", "masks"):
            np.testing.assert_array_equal(result[key], want[key])
