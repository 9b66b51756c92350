"""Mask R-CNN on Keras 3 with matterport's module names (mrcnn.model, mrcnn.utils, mrcnn.config, mrcnn.visualize)."""

from mrcnn.imgaug_stand_in import install as _install_imgaug_stand_in

_install_imgaug_stand_in()
