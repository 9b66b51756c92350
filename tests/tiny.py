"""A tiny config and shapes data shared by the model-level tests (fast on a 2-core CPU)."""

from mrcnn.config import Config
from mrcnn.datasets import ShapesDataset


class TinyConfig(Config):
    NAME = "tiny"
    NUM_CLASSES = 1 + 3
    IMAGES_PER_GPU = 2
    BACKBONE = "mobilenet_v1"
    BACKBONE_OPTIONS = {"alpha": 0.25}
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_CHANNELS = 32
    FPN_CLASSIF_FC_LAYERS_SIZE = 64
    MASK_HEAD_CHANNELS = 16
    MASK_HEAD_CONVS = 1
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    TRAIN_ROIS_PER_IMAGE = 32
    MAX_GT_INSTANCES = 5
    PRE_NMS_LIMIT = 500
    POST_NMS_ROIS_TRAINING = 200
    POST_NMS_ROIS_INFERENCE = 100
    DETECTION_MIN_CONFIDENCE = 0.0
    DETECTION_PER_CLASS = True  # random-weight tests need detections: score every class, not the top one
    STEPS_PER_EPOCH = 2
    VALIDATION_STEPS = 1
    DATA_WORKERS = 1


class TinyInferenceConfig(TinyConfig):
    IMAGES_PER_GPU = 1


def shapes(count=4, size=128, seed=0):
    dataset = ShapesDataset()
    dataset.load_shapes(count, size, size, seed=seed)
    dataset.prepare()
    return dataset
