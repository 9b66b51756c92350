"""`MaskRCNN`: matterport's facade (train, detect, load_weights, find_last, ...) over Keras 3 graphs."""

import copy
import datetime
import json
import os
import re
import time
import warnings
from pathlib import Path

import keras
import numpy as np

from mrcnn.backbones import build_backbone
from mrcnn.config import Config
from mrcnn.data.boxes import norm_boxes
from mrcnn.data.copy_paste import CopyPaste
from mrcnn.data.generator import DataGenerator
from mrcnn.data.matterport_batches import (  # noqa: F401 (matterport's names)
    build_detection_targets,
    build_rpn_targets,
    data_generator,
    generate_random_rois,
    load_image_gt,
)
from mrcnn.engine import distribute, training
from mrcnn.inference import flip_tta, graph_probe, mold
from mrcnn.inference.mold import compose_image_meta, mold_image, parse_image_meta, unmold_image  # noqa: F401
from mrcnn.modeling import graph
from mrcnn.modeling.anchors import compute_backbone_shapes, model_anchors  # noqa: F401 (matterport name)
from mrcnn.weights import h5 as weights_io
from mrcnn.weights import matterport

MODES = ("training", "inference")
# matterport's checkpoint path: <model_dir>/<name><YYYYmmddTHHMM>/mask_rcnn_<name>_<epoch:04d>.h5
CHECKPOINT_PATTERN = re.compile(r".*[/\\][\w-]+(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})[/\\]mask_rcnn_[\w-]+(\d{4})\.h5$")


def log(text, array=None):
    """Print `text`, and for a numpy array its shape, min, max and dtype (matterport's notebook helper)."""
    if array is not None:
        array = np.asarray(array)
        extent = f"min: {array.min():10.5f}  max: {array.max():10.5f}" if array.size else "min: empty  max: empty"
        text = f"{text:25s}shape: {str(array.shape):20s}  {extent}  {array.dtype}"
    print(text)


class BatchNorm(keras.layers.BatchNormalization):
    """matterport's BatchNorm: keras BatchNormalization whose `training` argument is passed as given."""

    def call(self, inputs, training=None):
        return super().call(inputs, training=training)


def find_last_checkpoint(model_dir, name):
    """Path of the newest checkpoint of the newest run named `name` (a config NAME) under model_dir."""
    name = (name or "mrcnn").lower()
    runs = sorted(p for p in Path(model_dir).glob(f"{name}*") if p.is_dir()) if Path(model_dir).is_dir() else []
    for run in reversed(runs):
        checkpoints = sorted(run.glob(f"mask_rcnn_{name}_*.h5"))
        if checkpoints:
            return str(checkpoints[-1])
    raise FileNotFoundError(f"No checkpoint of {name!r} found under {model_dir!r}; train first or pass a weights path")


class MaskRCNN:
    """Mask R-CNN in "training" or "inference" mode.

    keras_model is the Keras model: in training mode its outputs are the five losses; in
    inference mode, detections [b, D, 6] and mask probabilities [b, n, h, w].
    """

    def __init__(self, mode, config, model_dir="logs", strategy=None):
        if mode not in MODES:
            raise ValueError(f"mode must be 'training' or 'inference', got {mode!r}")
        if not isinstance(config, Config):
            raise TypeError(f"config must be an mrcnn.config.Config, got {type(config).__name__}")
        self.mode = mode
        self.config = config
        self.model_dir = str(model_dir)
        self.class_names = None
        self.weights_path = None
        self._chosen_keys = frozenset()  # config keys set on purpose (from_weights overrides): no mismatch warning
        self.set_log_dir()
        builder = graph.build_training_graph if mode == "training" else graph.build_inference_graph
        # strategy: see mrcnn.engine.distribute (GPU_COUNT > 1, MRCNN_STRATEGY or TF_CONFIG); training only.
        self.strategy = distribute.resolve_strategy(config, strategy) if mode == "training" else None
        with distribute.strategy_scope(self.strategy):
            self.keras_model, self.backbone = builder(config)
        # The dtype policy actually used: config.PRECISION, with "auto" resolved for this machine and mode.
        self.precision = distribute.resolve_precision(config.PRECISION, mode)
        distribute.apply_precision(self.keras_model, self.backbone.model, self.precision)
        replicas = distribute.replica_count(self.strategy)
        if replicas > 1:  # Each replica's loss / replicas: the summed gradients then average.
            self.keras_model.loss_weights = {
                name: config.LOSS_WEIGHTS.get(name, 1.0) / replicas for name in graph.LOSS_NAMES
            }
        if mode == "inference":
            self.keras_model.compile(jit_compile=bool(config.JIT_COMPILE))

    @classmethod
    def from_weights(cls, weights_path, model_dir="logs", **config_overrides):
        """Inference model from a weights file saved by mrcnn (its config and class names are stored in it)."""
        metadata = weights_io.read_metadata(weights_path)
        if not metadata["config"]:
            raise weights_io.WeightsFileError(
                f"{weights_path} holds no mrcnn config; build MaskRCNN(mode='inference', config=...) "
                "and call load_weights(path, by_name=True) instead"
            )
        # How this machine runs the model, not how the file was trained: one image per batch, PRECISION "auto".
        overrides = {"GPU_COUNT": 1, "IMAGES_PER_GPU": 1, "PRECISION": "auto", **config_overrides}
        model = cls("inference", Config.from_dict(metadata["config"], **overrides), model_dir)
        model._chosen_keys = frozenset(config_overrides)
        model.load_weights(weights_path, by_name=True)
        return model

    # ---- log directory and checkpoints -------------------------------------------------------

    def set_log_dir(self, model_path=None):
        """Start a new log dir, or continue the one `model_path` (a checkpoint) lives in."""
        self.epoch = 0
        now = datetime.datetime.now()
        match = CHECKPOINT_PATTERN.match(str(model_path)) if model_path else None
        if match:
            now = datetime.datetime(*map(int, match.groups()[:5]))
            self.epoch = int(match.group(6))
        name = (self.config.NAME or "mrcnn").lower()
        self.log_dir = os.path.join(self.model_dir, f"{name}{now:%Y%m%dT%H%M}")
        self.checkpoint_path = os.path.join(self.log_dir, f"mask_rcnn_{name}_{{epoch:04d}}.h5")

    def find_last(self):
        """Path of the newest checkpoint of the newest run of this config's NAME."""
        return find_last_checkpoint(self.model_dir, self.config.NAME)

    # ---- weights -----------------------------------------------------------------------------

    def get_imagenet_weights(self):
        """Local path of the backbone's ImageNet file (raises FileNotFoundError saying where it looked)."""
        options = dict(self.config.BACKBONE_OPTIONS)
        return build_backbone(self.config.BACKBONE, weights="imagenet", **options).weights_file

    def load_weights(self, filepath, by_name=False, exclude=None):
        """Load a legacy-layout .h5 (mrcnn checkpoints, keras.applications, matterport files).

        by_name=False requires every layer of the model to be in the file; by_name=True loads
        whatever matches. `exclude` leaves the named layers untouched. A checkpoint path from
        this project's log dir also sets the epoch to resume from.
        """
        if exclude and not by_name:
            raise ValueError("exclude requires by_name=True")
        filepath = str(filepath)
        if filepath.endswith(".weights.h5") and not by_name:
            self.keras_model.load_weights(filepath)
        else:
            loader = matterport.load if matterport.is_matterport_file(filepath) else weights_io.load
            report = loader(self.keras_model, filepath, exclude=exclude or (), strict=not by_name)
            metadata = weights_io.read_metadata(filepath)
            self.class_names = metadata["class_names"] or self.class_names
            self._check_classes(metadata["config"], exclude)
            self._warn_config(filepath, metadata["config"], exclude)
            if loader is matterport.load:
                self._warn_matterport_conventions(filepath, report["loaded"])
            self.load_report = report
        self.weights_path = filepath
        self.set_log_dir(filepath)

    def _warn_config(self, filepath, stored_config, exclude):
        """Warn when the file's stored config disagrees with this model's on a key that changes results."""
        skip = self._chosen_keys | ({"NUM_CLASSES"} if exclude else set())
        differences = weights_io.config_differences(stored_config, self.config.to_dict())
        differences = [d for d in differences if d[0] not in skip]
        if differences:
            warnings.warn(weights_io.describe_differences(filepath, differences), stacklevel=3)

    def _warn_matterport_conventions(self, filepath, loaded):
        """Warn when a matterport file's weights meet conventions other than matterport's (matterport.CONVENTIONS).

        Its RPN learned deltas for anchors centred at i * stride and boxes normalised by (H - 1, W - 1), its ResNet
        features come from a "same"-padded stem max-pool, its heads from crop_and_resize samples. Each key is named
        only if the layer it matters for was loaded, and a ResNet stem only on a ResNet backbone.
        """
        config = self.config
        wrong = [
            key
            for key, layer in matterport.CONVENTION_LAYERS.items()
            if layer in loaded
            and getattr(config, key) != matterport.CONVENTIONS[key]
            and (key != "RESNET_STEM" or config.BACKBONE in graph.RESNETS)
        ]
        if not wrong:
            return
        fixes = ", ".join(f"{key} = {matterport.CONVENTIONS[key]!r}" for key in wrong)
        anchors = (
            f" (its RPN was trained on anchors centred at i * stride, this model's are at "
            f"(i + {config.RPN_ANCHOR_OFFSET}) * stride)"
            if "RPN_ANCHOR_OFFSET" in wrong
            else ""
        )
        warnings.warn(
            f"{filepath} is a matterport file{anchors}: its weights compute matterport's numbers only with its "
            f"conventions; set {fixes} in your Config (all of them: mrcnn.weights.matterport.CONVENTIONS)",
            stacklevel=3,
        )

    def _check_classes(self, stored_config, exclude):
        stored = (stored_config or {}).get("NUM_CLASSES")
        if stored and stored != self.config.NUM_CLASSES and not exclude:
            raise weights_io.WeightsFileError(
                f"The weights were trained for NUM_CLASSES={stored} but the config has {self.config.NUM_CLASSES}; "
                "pass exclude=['mrcnn_class_logits', 'mrcnn_bbox_fc', 'mrcnn_bbox', 'mrcnn_mask']"
            )

    def save_weights(self, filepath):
        """Write the weights (legacy .h5 layout) with this model's config and class names."""
        weights_io.save(self.keras_model, filepath, self._metadata())

    def _metadata(self):
        return {"mrcnn_config": json.loads(self.config.to_json()), "class_names": self.class_names}

    # ---- training ----------------------------------------------------------------------------

    def set_trainable(self, layer_regex, keras_model=None, indent=0, verbose=1):
        """Make the layers whose names match layer_regex trainable, the others frozen; returns their names.

        keras_model defaults to self.keras_model; indent only shifts the printed list (matterport's signature).
        """
        names = training.set_trainable(keras_model or self.keras_model, layer_regex, self.config.TRAIN_BN)
        if verbose:
            print(" " * indent + f"{len(names)} trainable layers: {', '.join(names)}")
        return names

    def find_trainable_layer(self, layer):
        """The layer holding the weights: the wrapped layer of a TimeDistributed wrapper, else the layer."""
        while isinstance(layer, keras.layers.TimeDistributed):
            layer = layer.layer
        return layer

    def compile(self, learning_rate, momentum):
        """Compile the training model with the config's optimizer at this learning rate and momentum."""
        if self.mode != "training":
            raise ValueError("compile() needs a model created with mode='training'")
        config = copy.copy(self.config)
        config.LEARNING_MOMENTUM = momentum
        with distribute.strategy_scope(self.strategy):
            self.keras_model.compile(
                optimizer=training.make_optimizer(config, learning_rate, self.strategy),
                jit_compile=bool(self.config.JIT_COMPILE),
            )

    def get_trainable_layers(self):
        return [layer for layer in weights_io.weight_layers(self.keras_model).values() if layer.trainable]

    def _optimizer(self, learning_rate):
        return training.make_optimizer(self.config, learning_rate, self.strategy)

    def train(
        self,
        train_dataset,
        val_dataset,
        learning_rate,
        epochs,
        layers,
        augmentation=None,
        custom_callbacks=None,
        no_augmentation_sources=None,
    ):
        """Train until epoch `epochs` (continuing from self.epoch), matterport-style.

        layers: "heads", "3+", "4+", "5+", "all" or a regex of layer names. augmentation: built-in
        augmenters (mrcnn.data.augment), an albumentations transform or an imgaug augmenter; None uses
        the config's AUGMENTATION. A checkpoint is written after every epoch into self.log_dir,
        and TensorBoard logs next to it.
        """
        if self.mode != "training":
            raise ValueError("train() needs a model created with mode='training'")
        if augmentation is None:
            from mrcnn.data.augment import preset

            augmentation = preset(self.config.AUGMENTATION)
        self.class_names = list(train_dataset.class_names)
        self.set_trainable(training.layers_pattern(layers, self.backbone), verbose=0)
        with distribute.strategy_scope(self.strategy):
            self.keras_model.compile(
                optimizer=self._optimizer(learning_rate), jit_compile=bool(self.config.JIT_COMPILE)
            )
        workers = self.config.DATA_WORKERS
        # Every worker of a multi-worker job loads the whole global batch and keeps its share, so they
        # must draw the same images and augmentations: a shared seed.
        shared_seed = 0 if distribute.is_multi_worker(self.strategy) else None
        train_data = DataGenerator(
            train_dataset,
            self.config,
            shuffle=True,
            augmentation=augmentation,
            steps=self.config.STEPS_PER_EPOCH,
            no_augmentation_sources=no_augmentation_sources,
            workers=workers,
            seed=shared_seed,
            copy_paste=CopyPaste.from_config(self.config),
        )
        val_data = (
            DataGenerator(
                val_dataset, self.config, shuffle=True, steps=self.config.VALIDATION_STEPS, workers=workers, seed=0
            )
            if val_dataset is not None
            else None
        )
        os.makedirs(self.log_dir, exist_ok=True)
        # Custom callbacks run first, so the metrics they add to the epoch logs (EvalCheckpoint's val AP)
        # reach TensorBoard and the History.
        callbacks = list(custom_callbacks or []) + [
            keras.callbacks.TensorBoard(self.log_dir, write_graph=False, update_freq="epoch"),
            training.EpochCheckpoint(self.keras_model, self.checkpoint_path, self._metadata()),
            training.StopOnNaN(),
        ]
        print(f"Starting at epoch {self.epoch}, learning rate {learning_rate}, checkpoints: {self.checkpoint_path}")
        history = self.keras_model.fit(
            train_data,
            initial_epoch=self.epoch,
            epochs=epochs,
            validation_data=val_data,
            callbacks=callbacks,
            verbose=1,
        )
        self.epoch = max(self.epoch, epochs)
        return history

    # ---- inference ---------------------------------------------------------------------------

    def export(self, out_dir, format="savedmodel"):
        """Write a standalone model for serving (see mrcnn.export): "savedmodel", "tflite" or "onnx"."""
        from mrcnn import export

        return export.export(self, out_dir, format)

    def mold_inputs(self, images):
        """(molded [b, H, W, 3] float32, windows [b, 4], scales [b], original shapes [b, 3])."""
        return mold.mold_inputs(images, self.config)

    def detect(self, images, verbose=0):
        """Detect instances in a list of RGB images (any sizes).

        Returns one dict per image: rois int32 [N, (y1, x1, y2, x2)] original pixels (exclusive
        y2/x2), class_ids int32 [N], scores float32 [N], masks bool [H, W, N].
        Images are processed BATCH_SIZE at a time.
        """
        if self.mode != "inference":
            raise ValueError("detect() needs a model created with mode='inference'")
        if isinstance(images, np.ndarray) and images.ndim == 3:
            raise TypeError("detect() takes a list of images; wrap a single image as [image]")
        images = list(images)
        if not images:
            return []
        results = []
        size = self.config.BATCH_SIZE
        for start in range(0, len(images), size):
            results.extend(self._detect_batch(images[start : start + size], verbose))
        return results

    def _forward(self, images):
        """One pass of the network over a batch, unmolded to detect()'s result dicts."""
        molded, windows, scales, shapes = self.mold_inputs(images)
        self._keep_anchors(molded.shape[1:])
        detections, masks = self.keras_model.predict_on_batch(molded)
        return [
            mold.unmold_detections(
                detections[i],
                masks[i],
                shapes[i],
                molded.shape[1:],
                windows[i],
                scales[i],
                self.config.BOX_NORMALIZATION,
            )
            for i in range(len(images))
        ]

    def get_anchors(self, image_shape):
        """The model's anchors for image_shape, normalised [A, (y1, x1, y2, x2)]; self.anchors keeps them in pixels."""
        self.anchors = model_anchors(self.config, image_shape)
        self._anchors_shape = tuple(image_shape[:2])
        return norm_boxes(self.anchors, image_shape, self.config.BOX_NORMALIZATION)

    def _keep_anchors(self, molded_shape):
        """As matterport's detect() and run_graph() do, leave model.anchors (pixels) for the molded shape."""
        if getattr(self, "_anchors_shape", None) != tuple(molded_shape[:2]):
            self.get_anchors(tuple(molded_shape))

    def detect_molded(self, molded_images, image_metas, verbose=0):
        """detect() on images already molded with mold_image (MEAN_PIXEL subtracted) and their image_metas."""
        if self.mode != "inference":
            raise ValueError("detect_molded() needs a model created with mode='inference'")
        raw = np.asarray(molded_images, np.float32) + np.asarray(self.config.MEAN_PIXEL, np.float32)
        self._keep_anchors(raw.shape[1:])
        meta = parse_image_meta(image_metas)
        detections, masks = self.keras_model.predict_on_batch(raw)
        results = [
            mold.unmold_detections(
                detections[i],
                masks[i],
                meta["original_image_shape"][i],
                raw.shape[1:],
                meta["window"][i],
                meta["scale"][i],
                self.config.BOX_NORMALIZATION,
            )
            for i in range(len(raw))
        ]
        if verbose:
            print(f"Processed {len(raw)} molded image(s): {[len(r['class_ids']) for r in results]} detections")
        return results

    def unmold_detections(self, detections, mrcnn_mask, original_image_shape, image_shape, window):
        """One image's network output → matterport's tuple (boxes, class_ids, scores, masks [H, W, N]).

        mrcnn_mask is this model's [n, h, w] output or matterport's [D, h, w, classes] (the class's channel is used).
        """
        mrcnn_mask = np.asarray(mrcnn_mask)
        if mrcnn_mask.ndim == 4:
            class_ids = np.asarray(detections)[: len(mrcnn_mask), 4].astype(int)
            mrcnn_mask = mrcnn_mask[np.arange(len(mrcnn_mask)), :, :, class_ids]
        scale = (window[2] - window[0]) / original_image_shape[0]
        r = mold.unmold_detections(
            detections, mrcnn_mask, original_image_shape, image_shape, window, scale, self.config.BOX_NORMALIZATION
        )
        return r["rois"], r["class_ids"], r["scores"], r["masks"]

    def run_graph(self, images, outputs, image_metas=None):
        """Run the inference graph on images; OrderedDict {name: numpy array} of the requested outputs, each logged.

        outputs: (name, tensor) pairs, each tensor a layer output of self.keras_model (e.g.
        model.keras_model.get_layer("rpn_class").output), a layer name, or what `ancestor` returns.
        input_image, mrcnn_mask and mrcnn_bbox come in matterport's layouts (mrcnn.inference.graph_probe). image_metas
        is accepted for matterport's signature: the model molds the images itself.
        """
        molded = self.mold_inputs(images)[0]
        self._keep_anchors(molded.shape[1:])
        results = graph_probe.run_graph(self.keras_model, molded, outputs, self.config, self.mode == "inference")
        for name, value in results.items():
            log(name, value)
        return results

    def ancestor(self, tensor, name, checked=None):
        """matterport's tensor lookup by name ("rpn_class:0", "ROI/pre_nms_anchors:0", ...); None if there is none.

        Keras 3 has layer outputs only: a layer name gives its output; the ProposalLayer's inner stages
        (ROI/pre_nms_anchors, ROI/refined_anchors, ROI/refined_anchors_clipped, ROI/rpn_non_max_suppression)
        give a marker that run_graph recomputes with the layer's own ops. `tensor` and `checked` are unused.
        """
        return graph_probe.ancestor(self.keras_model, name)

    def _detect_batch(self, images, verbose):
        started = time.perf_counter()
        results = self._forward(images)
        if self.config.DETECTION_FLIP_TTA:
            mirrored = self._forward([np.ascontiguousarray(image[:, ::-1]) for image in images])
            c = self.config
            results = [
                flip_tta.merge(
                    plain,
                    flip_tta.mirror(flipped, image.shape[1]),
                    c.DETECTION_MAX_INSTANCES,
                    c.DETECTION_NMS_THRESHOLD,
                )
                for plain, flipped, image in zip(results, mirrored, images)
            ]
        if verbose:
            elapsed = (time.perf_counter() - started) * 1000
            print(
                f"Processed {len(images)} image(s) in {elapsed:.0f} ms: "
                f"{[len(r['class_ids']) for r in results]} detections"
            )
        return results
