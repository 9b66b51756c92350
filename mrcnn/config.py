"""Model configuration.

Subclass ``Config`` and override attributes, exactly as in matterport's Mask_RCNN. Every
matterport attribute keeps its name, default and meaning. Attributes matterport hard-coded
(FPN/RPN/head widths, optimiser, XLA, mixed precision) are added as config values so that a
slim, fast "mobile" configuration (``MobileConfig``) is just a subclass.

Boxes inside the network are normalised to the molded image: (y1, x1, y2, x2) / (H, W, H, W),
with pixel y2/x2 exclusive.
"""

import json

import numpy as np

from mrcnn.data import augment
from mrcnn.data.boxes import BOX_NORMALIZATIONS


class ConfigError(ValueError):
    """A configuration value is out of range or inconsistent."""


# What a weights file saved before a key existed was computed with (Config.from_dict, load warnings).
STORED_DEFAULTS = {
    "DETECTION_PER_CLASS": True,
    "RPN_ANCHOR_OFFSET": 0.5,
    "RESNET_STEM": "keras",
    "ROI_ALIGN": "mrcnn",
    "BOX_NORMALIZATION": "mrcnn",
    "PYRAMID_CONV": "conv",
}


class AnchorScales(tuple):
    """A Config's RPN_ANCHOR_SCALES: the tuple of scales, which also remembers the config's RPN_ANCHOR_OCTAVES and
    RPN_ANCHOR_OFFSET.

    matterport's notebooks build anchors with `utils.generate_pyramid_anchors(config.RPN_ANCHOR_SCALES, ...)`, five
    arguments that know nothing of octaves or of the cell-centre offset, and index them with the data generator's
    `rpn_match`. Given these scales, generate_pyramid_anchors returns the model's own anchors (same count, order and
    centres), so those cells draw what the model trains on; a plain tuple gives matterport's grid.
    """

    def __new__(cls, scales, octaves=(1.0,), offset=0.0):
        self = super().__new__(cls, scales)
        self.octaves, self.offset = tuple(float(o) for o in octaves), float(offset)
        return self

    def __getnewargs__(self):
        return tuple(self), self.octaves, self.offset


class Config:
    """Base configuration. Override attributes in a subclass, or pass them as keyword arguments."""

    NAME = None  # Short name of the experiment; used in log-dir and checkpoint names.

    # Devices and batch. BATCH_SIZE = IMAGES_PER_GPU * GPU_COUNT (derived).
    GPU_COUNT = 1
    IMAGES_PER_GPU = 2

    STEPS_PER_EPOCH = 1000
    VALIDATION_STEPS = 50

    # Backbone: a registry name (see mrcnn.backbones.list_backbones()) or a callable builder.
    BACKBONE = "resnet101"
    # Extra keyword arguments for the backbone builder, e.g. {"alpha": 0.75} for mobilenet_v1.
    BACKBONE_OPTIONS = {}
    # ResNet stem (mrcnn/backbones/resnet.py): "keras" (keras.applications': its max-pool pads 1 on each side; input
    # minus the ImageNet mean) or "matterport" (matterport's: max-pool padded "same", input minus MEAN_PIXEL), which
    # matterport's weight files (mask_rcnn_coco.h5) need. Stored in every weights file; files saved before the key
    # were trained with "keras" (see STORED_DEFAULTS).
    RESNET_STEM = "keras"
    # Strides of the FPN levels P2..P6: the backbone's C2..C5 strides (Backbone.strides) plus P6. The anchors
    # follow the backbone; building a model whose backbone disagrees with this raises ConfigError.
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]
    # matterport's hook for a custom backbone's feature shapes. Not supported (must stay None): feature shapes
    # come from the backbone model in-graph and its strides from Backbone.strides.
    COMPUTE_BACKBONE_SHAPE = None

    # Widths. matterport hard-codes RPN 512 and mask head 256/4 convs.
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024
    TOP_DOWN_PYRAMID_SIZE = 256
    RPN_CONV_CHANNELS = 512
    MASK_HEAD_CHANNELS = 256
    MASK_HEAD_CONVS = 4
    # The 3x3 convolutions on the pyramid (fpn_p2..fpn_p5 and the shared RPN conv): "conv" (matterport's) or
    # "separable" (depthwise 3x3 + pointwise 1x1, about 1/8 of the multiply-adds at 128 channels). At P2
    # (stride 4) these two convolutions are most of the model's compute; see SmallDatasetConfig. Stored in
    # weights files; files saved before the key used "conv" (see STORED_DEFAULTS).
    PYRAMID_CONV = "conv"

    NUM_CLASSES = 1  # Including background.

    # Anchors: one scale per pyramid level, in pixels of the molded image.
    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]  # width / height
    # Multipliers of each level's scale (RetinaNet uses 1, 2^(1/3), 2^(2/3)); (1,) is matterport's.
    # More octaves give large objects on coarse levels more well-matched (IoU >= 0.7) anchors.
    RPN_ANCHOR_OCTAVES = (1.0,)
    # Anchors on every k-th feature cell (the RPN conv runs with stride k): k=2 gives 4x fewer anchors.
    RPN_ANCHOR_STRIDE = 1
    # Anchor centres sit at (i + RPN_ANCHOR_OFFSET) * stride for feature cell i: 0.5 (mrcnn's, the cell centre)
    # or 0.0 (matterport's, the cell corner; its trained files, e.g. mask_rcnn_coco.h5, need it). Stored in every
    # weights file; files saved before the key were trained with 0.5 (see STORED_DEFAULTS).
    RPN_ANCHOR_OFFSET = 0.5
    # How boxes are normalised inside the network (anchors, proposals, detections, ground truth):
    # "mrcnn", pixels / (H, W, H, W) with y2/x2 exclusive; "matterport" (its norm_boxes), (pixels - (0, 0, 1, 1)) /
    # (H - 1, W - 1, H - 1, W - 1), which its weight files need (their RPN deltas move boxes one pixel smaller).
    # Stored in every weights file; files saved before the key used "mrcnn" (see STORED_DEFAULTS).
    BOX_NORMALIZATION = "mrcnn"
    RPN_NMS_THRESHOLD = 0.7
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256
    PRE_NMS_LIMIT = 6000
    POST_NMS_ROIS_TRAINING = 2000
    POST_NMS_ROIS_INFERENCE = 1000

    # Ground-truth masks are stored cropped to their box and resized to MINI_MASK_SHAPE.
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)

    # Resizing, as matterport: "square", "pad64", "none" or "crop".
    IMAGE_RESIZE_MODE = "square"
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    IMAGE_MIN_SCALE = 0
    # 3 (RGB); 1 reads images as grayscale; other counts need a Dataset.load_image that returns them. ImageNet
    # weights still load: the first conv's RGB kernel is adapted (mrcnn/weights/channels.py).
    IMAGE_CHANNEL_COUNT = 3
    # matterport's mean pixel (RGB, or one value per channel). At the default each backbone normalises its input
    # in-graph as its ImageNet weights expect (mrcnn/backbones/normalize.py); another value (e.g. a dataset's mean,
    # as nucleus.py sets) replaces that normalisation's mean and keeps its scale: MobileNet (x - MEAN_PIXEL) / 127.5,
    # ResNet BGR(x - MEAN_PIXEL). mold_image / unmold_image (matterport's) subtract and add it back.
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])

    TRAIN_ROIS_PER_IMAGE = 200
    ROI_POSITIVE_RATIO = 0.33
    POOL_SIZE = 7
    MASK_POOL_SIZE = 14
    # ROIAlign sampling (mrcnn/modeling/roi_align.py): "mrcnn" (one bilinear sample at each bin centre; level
    # floor(4 + log2(sqrt(area) / 224))) or "matterport" (tf.image.crop_and_resize's grid from the box's first to its
    # last pixel; level 4 + round(...)), which matterport's weight files need. Stored in every weights file; files
    # saved before the key used "mrcnn" (see STORED_DEFAULTS).
    ROI_ALIGN = "mrcnn"
    MASK_SHAPE = [28, 28]
    MAX_GT_INSTANCES = 100

    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    DETECTION_MAX_INSTANCES = 100
    DETECTION_MIN_CONFIDENCE = 0.7
    DETECTION_NMS_THRESHOLD = 0.3
    # Also detect on the mirrored image and average the two passes' scores (mrcnn.inference.flip_tta): twice
    # the detect() time; export() and the exported models do not include it. A detection only one
    # pass makes keeps half its score, which may fall below DETECTION_MIN_CONFIDENCE.
    DETECTION_FLIP_TTA = False
    # False (matterport's rule): each ROI is scored for its top class only (background included, so an ROI
    # whose top class is background gives nothing). True: every foreground class of every ROI is scored, so
    # one ROI can give detections of several classes; with DETECTION_MIN_CONFIDENCE below 0.5 this finds more
    # (COCO AP at 0.05 is usually a little higher). Weights files saved before this key existed keep True,
    # the rule they were evaluated with (see from_dict).
    DETECTION_PER_CLASS = False

    # Optimiser: "sgd" (matterport: momentum SGD) or "adamw".
    OPTIMIZER = "sgd"
    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9
    WEIGHT_DECAY = 0.0001
    GRADIENT_CLIP_NORM = 5.0
    # Linear learning-rate warm-up at the start of every train() call (0 = off, as matterport).
    WARMUP_STEPS = 0
    LOSS_WEIGHTS = {
        "rpn_class_loss": 1.0,
        "rpn_bbox_loss": 1.0,
        "mrcnn_class_loss": 1.0,
        "mrcnn_bbox_loss": 1.0,
        "mrcnn_mask_loss": 1.0,
    }

    # Only True is supported: the heads always train on the RPN's proposals.
    USE_RPN_ROIS = True
    # BatchNorm layers stay frozen (inference mode) unless True, as in matterport.
    TRAIN_BN = False
    # Multiplies the gradients that reach the backbone (= its learning rate under SGD). With frozen
    # BN, pretrained bodies get updates far larger relative to their weights than the new layers do.
    BACKBONE_GRADIENT_SCALE = 1.0

    # Built-in augmentation for `train()` when no `augmentation=` is passed: None or a name in
    # mrcnn.data.augment.PRESETS ("default": mild; "scale_jitter": for small datasets).
    AUGMENTATION = None
    # Copy-paste (mrcnn.data.copy_paste): the share of training images that get instances pasted from
    # another training image, and the range of sizes (x of their own) they are pasted at.
    COPY_PASTE_PROB = 0.0
    COPY_PASTE_SCALE = (0.25, 1.0)
    # Passed explicitly to compile(): Keras' "auto" would turn XLA on only where a GPU is visible.
    JIT_COMPILE = False
    # "auto", "float32", "mixed_float16" or "mixed_bfloat16": the Keras dtype policy of the compute-heavy layers.
    # "auto" picks it from the machine when the model is built (mrcnn.engine.distribute.resolve_precision:
    # mixed_bfloat16 for inference on CPUs with AVX512_BF16 or AMX, mixed_float16 on GPUs of compute
    # capability >= 7.0, else float32); the MRCNN_PRECISION environment variable forces what "auto" means.
    PRECISION = "auto"
    # Workers for the training data loader (threads).
    DATA_WORKERS = 2

    _RESIZE_MODES = ("square", "pad64", "none", "crop")

    def __init__(self, **overrides):
        for key, value in overrides.items():
            if not hasattr(type(self), key) or not key.isupper():
                raise ConfigError(f"Unknown config attribute {key!r}")
            setattr(self, key, value)
        self.BATCH_SIZE = self.IMAGES_PER_GPU * self.GPU_COUNT
        self.IMAGE_SHAPE = self._image_shape()
        # matterport's image_meta length: id, original shape, image shape, window, scale, class ids.
        self.IMAGE_META_SIZE = 1 + 3 + 3 + 4 + 1 + self.NUM_CLASSES
        self.validate()
        self.RPN_ANCHOR_SCALES = AnchorScales(self.RPN_ANCHOR_SCALES, self.RPN_ANCHOR_OCTAVES, self.RPN_ANCHOR_OFFSET)

    def _image_shape(self):
        channels = self.IMAGE_CHANNEL_COUNT
        if self.IMAGE_RESIZE_MODE == "crop":
            return np.array([self.IMAGE_MIN_DIM, self.IMAGE_MIN_DIM, channels])
        return np.array([self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM, channels])

    def validate(self):
        """Raise ConfigError naming the attribute to fix."""
        checks = [
            (
                self.IMAGE_RESIZE_MODE in self._RESIZE_MODES,
                f"IMAGE_RESIZE_MODE must be one of {self._RESIZE_MODES}, got {self.IMAGE_RESIZE_MODE!r}",
            ),
            (
                self.IMAGE_RESIZE_MODE != "square" or self.IMAGE_MAX_DIM % 64 == 0,
                f"IMAGE_MAX_DIM must be a multiple of 64 for 'square' resizing, got {self.IMAGE_MAX_DIM}",
            ),
            (
                self.IMAGE_RESIZE_MODE != "crop" or self.IMAGE_MIN_DIM % 64 == 0,
                f"IMAGE_MIN_DIM must be a multiple of 64 for 'crop' resizing, got {self.IMAGE_MIN_DIM}",
            ),
            (int(self.NUM_CLASSES) >= 1, "NUM_CLASSES counts the background too and must be >= 1"),
            (self.GPU_COUNT >= 1 and self.IMAGES_PER_GPU >= 1, "GPU_COUNT and IMAGES_PER_GPU must be >= 1"),
            (
                len(self.RPN_ANCHOR_SCALES) == len(self.BACKBONE_STRIDES),
                "RPN_ANCHOR_SCALES needs one scale per pyramid level (len(BACKBONE_STRIDES))",
            ),
            (0 < self.ROI_POSITIVE_RATIO < 1, "ROI_POSITIVE_RATIO must be in (0, 1)"),
            (
                self.TRAIN_ROIS_PER_IMAGE * self.ROI_POSITIVE_RATIO >= 1,
                "TRAIN_ROIS_PER_IMAGE * ROI_POSITIVE_RATIO must allow at least one positive ROI",
            ),
            (
                self.PRE_NMS_LIMIT >= 1 and self.POST_NMS_ROIS_TRAINING >= 1,
                "PRE_NMS_LIMIT and POST_NMS_ROIS_TRAINING must be positive",
            ),
            (
                isinstance(self.DETECTION_PER_CLASS, (bool, np.bool_)),
                f"DETECTION_PER_CLASS must be True or False, got {self.DETECTION_PER_CLASS!r}",
            ),
            (self.OPTIMIZER in ("sgd", "adamw"), f"OPTIMIZER must be 'sgd' or 'adamw', got {self.OPTIMIZER!r}"),
            (
                self.PRECISION in ("auto", "float32", "mixed_float16", "mixed_bfloat16"),
                f"PRECISION must be 'auto', 'float32', 'mixed_float16' or 'mixed_bfloat16', got {self.PRECISION!r}",
            ),
            (
                isinstance(self.IMAGE_CHANNEL_COUNT, (int, np.integer)) and self.IMAGE_CHANNEL_COUNT >= 1,
                f"IMAGE_CHANNEL_COUNT must be a positive int (3 RGB, 1 gray, ...), got {self.IMAGE_CHANNEL_COUNT!r}",
            ),
            (
                self._mean_pixel_fits(),
                f"MEAN_PIXEL={self.MEAN_PIXEL!r} needs finite values, 3 (RGB) or one per channel "
                f"(IMAGE_CHANNEL_COUNT={self.IMAGE_CHANNEL_COUNT})",
            ),
            (
                isinstance(self.RPN_ANCHOR_OFFSET, (int, float)) and 0.0 <= self.RPN_ANCHOR_OFFSET < 1.0,
                f"RPN_ANCHOR_OFFSET must be in [0, 1) (0.5 mrcnn, 0.0 matterport), got {self.RPN_ANCHOR_OFFSET!r}",
            ),
            (
                self.PYRAMID_CONV in ("conv", "separable"),
                f"PYRAMID_CONV must be 'conv' or 'separable', got {self.PYRAMID_CONV!r}",
            ),
            (
                self.RESNET_STEM in ("keras", "matterport"),
                f"RESNET_STEM must be 'keras' or 'matterport', got {self.RESNET_STEM!r}",
            ),
            (
                self.BOX_NORMALIZATION in BOX_NORMALIZATIONS,
                f"BOX_NORMALIZATION must be 'mrcnn' or 'matterport', got {self.BOX_NORMALIZATION!r}",
            ),
            (
                self.ROI_ALIGN in ("mrcnn", "matterport"),
                f"ROI_ALIGN must be 'mrcnn' or 'matterport', got {self.ROI_ALIGN!r}",
            ),
            (
                isinstance(self.RPN_ANCHOR_STRIDE, (int, np.integer)) and self.RPN_ANCHOR_STRIDE >= 1,
                f"RPN_ANCHOR_STRIDE must be an integer >= 1, got {self.RPN_ANCHOR_STRIDE!r}",
            ),
            (
                self.USE_RPN_ROIS is True,
                "USE_RPN_ROIS=False is not supported: the heads always train on the RPN's proposals "
                "(there is no input for external ROIs); keep USE_RPN_ROIS = True",
            ),
            (
                self.COMPUTE_BACKBONE_SHAPE is None,
                "COMPUTE_BACKBONE_SHAPE is not supported: feature shapes come from the backbone model in-graph and "
                "its strides from Backbone.strides; keep COMPUTE_BACKBONE_SHAPE = None",
            ),
            (
                self.AUGMENTATION is None or self.AUGMENTATION in augment.PRESETS,
                f"AUGMENTATION must be None or one of {sorted(augment.PRESETS)}, got {self.AUGMENTATION!r}",
            ),
            (
                isinstance(self.COPY_PASTE_PROB, (int, float)) and 0.0 <= self.COPY_PASTE_PROB <= 1.0,
                f"COPY_PASTE_PROB must be a number in [0, 1], got {self.COPY_PASTE_PROB!r}",
            ),
            (
                isinstance(self.COPY_PASTE_SCALE, (tuple, list))
                and len(self.COPY_PASTE_SCALE) == 2
                and 0 < self.COPY_PASTE_SCALE[0] <= self.COPY_PASTE_SCALE[1],
                f"COPY_PASTE_SCALE must be (low, high) with 0 < low <= high, got {self.COPY_PASTE_SCALE!r}",
            ),
            (
                set(self.LOSS_WEIGHTS) <= set(Config.LOSS_WEIGHTS),
                f"LOSS_WEIGHTS keys must be among {sorted(Config.LOSS_WEIGHTS)}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)

    def _mean_pixel_fits(self):
        try:
            value = np.asarray(self.MEAN_PIXEL, dtype=float)
        except (TypeError, ValueError):
            return False
        return value.ndim == 1 and len(value) in (3, self.IMAGE_CHANNEL_COUNT) and bool(np.isfinite(value).all())

    def default_mean_pixel(self):
        """True when MEAN_PIXEL is the default: each backbone then keeps the input normalisation of its weights."""
        value = np.asarray(self.MEAN_PIXEL, dtype=float)
        return value.shape == Config.MEAN_PIXEL.shape and np.allclose(value, Config.MEAN_PIXEL)

    def to_dict(self):
        """Public attributes as JSON-friendly values (numpy arrays become lists)."""
        result = {}
        for name in dir(self):
            value = getattr(self, name)
            if not name.isupper() or callable(value) and not isinstance(value, str):
                continue
            result[name] = value.tolist() if isinstance(value, np.ndarray) else value
        return result

    def to_json(self):
        """JSON text of `to_dict()`; a callable BACKBONE is stored by its name."""
        data = self.to_dict()
        if callable(self.BACKBONE):
            data["BACKBONE"] = getattr(self.BACKBONE, "__name__", str(self.BACKBONE))
        return json.dumps(data, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, values, **overrides):
        """A Config whose attributes come from `values` (e.g. a checkpoint), then `overrides`."""
        known = {k: v for k, v in values.items() if hasattr(cls, k) and k.isupper()}
        for key, value in STORED_DEFAULTS.items():  # files from before the key: what they were computed with
            known.setdefault(key, value)
        for key in ("RPN_BBOX_STD_DEV", "BBOX_STD_DEV", "MEAN_PIXEL"):
            if key in known:
                known[key] = np.array(known[key])
        known.update(overrides)
        return cls(**known)

    def display(self):
        """Print every configuration value."""
        print("\nConfigurations:")
        for name, value in sorted(self.to_dict().items()):
            print(f"{name:30} {value}")
        print("\n")


class MobileConfig(Config):
    """Slim widths for a fast CPU model on a MobileNet v1 backbone.

    At 512x512 a single 3x3 conv of 256 channels on P2 costs about as much as two ResNet-50
    bodies, so the speed of this config comes from the narrow FPN/RPN/heads, not only the body.
    """

    BACKBONE = "mobilenet_v1"
    BACKBONE_OPTIONS = {"alpha": 0.75}
    IMAGE_MIN_DIM = 512
    IMAGE_MAX_DIM = 512
    TOP_DOWN_PYRAMID_SIZE = 64
    RPN_CONV_CHANNELS = 64
    FPN_CLASSIF_FC_LAYERS_SIZE = 256
    MASK_HEAD_CHANNELS = 64
    MASK_HEAD_CONVS = 2
    PRE_NMS_LIMIT = 2000
    POST_NMS_ROIS_TRAINING = 1000
    POST_NMS_ROIS_INFERENCE = 300
    TRAIN_ROIS_PER_IMAGE = 128
    DETECTION_MAX_INSTANCES = 50
    MAX_GT_INSTANCES = 50
    WARMUP_STEPS = 100


class MobileFineTuneConfig(MobileConfig):
    """MobileConfig set up to fine-tune the ImageNet MobileNet on a small dataset at 512 px.

    The samples (balloon, frisbee) start from it; so can your own dataset (set NAME, NUM_CLASSES,
    STEPS_PER_EPOCH). Each value was measured on balloon (samples/balloon/README.md).
    """

    IMAGES_PER_GPU = 2
    # matterport's 1024-px anchor scales halved for 512 px.
    RPN_ANCHOR_SCALES = (16, 32, 64, 128, 256)
    # Three sizes per level: about twice as many well-matched (IoU >= 0.7) anchors per object, and
    # objects larger than the top scale (up to ~400 px) still get a positive anchor.
    RPN_ANCHOR_OCTAVES = (1.0, 2 ** (1 / 3), 2 ** (2 / 3))
    # With frozen BN, MobileNet's deep layers die under full-size updates (C5 went 73% dead in
    # three epochs at lr 0.002); a 20x smaller backbone rate keeps them alive.
    BACKBONE_GRADIENT_SCALE = 0.05
    LEARNING_RATE = 0.01
    DETECTION_MIN_CONFIDENCE = 0.5
    # Score every class of every ROI (not only its top class, matterport's rule): the samples' models were
    # evaluated this way. Bundled balloon model, 13 val images, pycocotools at min confidence 0.05:
    # mask AP50 0.851 this way, 0.739 with the top-class rule (an ROI whose top class is background is lost).
    DETECTION_PER_CLASS = True
    AUGMENTATION = "default"


class SmallDatasetConfig(MobileFineTuneConfig):
    """MobileFineTuneConfig with the balloon recipe for a few dozen to a few hundred images, at 1024 px.

    `mrcnn train` starts from it (NAME, NUM_CLASSES and the steps are set from the data); the balloon
    sample's BalloonConfig is this config with one class. Each value was measured on balloon
    (samples/balloon/README.md): twice MobileConfig's head widths (the slim heads learn far slower from
    61 images; the weights file stays under 30 MB), zoom/shift augmentation (without it the RPN memorises
    the images) and copy-paste of objects between training images.
    """

    IMAGE_MIN_DIM = 1024
    IMAGE_MAX_DIM = 1024
    TOP_DOWN_PYRAMID_SIZE = 128
    RPN_CONV_CHANNELS = 128
    FPN_CLASSIF_FC_LAYERS_SIZE = 512
    MASK_HEAD_CHANNELS = 128
    MASK_HEAD_CONVS = 4
    AUGMENTATION = "scale_jitter"
    COPY_PASTE_PROB = 0.5
