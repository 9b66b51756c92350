"""Training data: Dataset images → padded ground-truth batches for `keras.Model.fit`.

The batch layout (names, shapes, dtypes) is defined in mrcnn.data.batch.
"""

import math

import keras
import numpy as np

from mrcnn.data import augment as augment_lib
from mrcnn.data.batch import batch_layout
from mrcnn.data.boxes import norm_boxes
from mrcnn.data.dataset import image_label
from mrcnn.data.errors import AnnotationError
from mrcnn.data.masks import extract_bboxes, minimize_mask
from mrcnn.data.resize import resize_mask
from mrcnn.inference.mold import check_image, resize_for_model


def _check_mask(dataset, image_id, image, masks, class_ids):
    where = f"image {image_label(dataset, image_id)!r} (id {image_id})"
    masks = np.asarray(masks)
    class_ids = np.asarray(class_ids)
    if masks.ndim != 3 or masks.shape[:2] != image.shape[:2]:
        raise AnnotationError(
            f"{where}: load_mask must return masks [H, W, N] matching the image {image.shape[:2]}, got {masks.shape}"
        )
    if class_ids.shape != (masks.shape[2],):
        raise AnnotationError(
            f"{where}: load_mask returned {masks.shape[2]} masks but class_ids of shape {class_ids.shape}"
        )
    if np.any(np.abs(class_ids) >= dataset.num_classes):
        raise AnnotationError(
            f"{where}: class ids {np.unique(class_ids).tolist()} exceed the dataset's {dataset.num_classes} classes"
        )
    return masks.astype(bool), class_ids.astype(np.int32)


def _load_resized(dataset, config, image_id, augmenter, rng):
    """(image, masks [H, W, N] bool, class_ids, window) of one image in the model's input frame."""
    where = f"image {image_label(dataset, image_id)!r}"
    image = check_image(dataset.load_image(image_id), where=where, channels=config.IMAGE_CHANNEL_COUNT)
    masks, class_ids = _check_mask(dataset, image_id, image, *dataset.load_mask(image_id))
    if augmenter is not None:
        image, masks = augmenter(image, masks, rng)
    image, window, scale, padding, crop = resize_for_model(image, config, rng=rng)
    return image, resize_mask(masks, scale, padding, crop), class_ids, window


def load_example(dataset, config, image_id, augmenter=None, rng=None, copy_paste=None):
    """One training example: (image uint8 [H, W, 3], class_ids [N], boxes [N, 4] pixels, masks).

    masks are [N, h, w] bool: mini masks over the boxes, or full-image masks. Instances whose
    mask is empty after augmentation or resizing are dropped; an image with none still trains.
    copy_paste (a mrcnn.data.copy_paste.CopyPaste) may paste instances of another image over it.
    """
    rng = rng if rng is not None else np.random.default_rng()
    image, masks, class_ids, window = _load_resized(dataset, config, image_id, augmenter, rng)
    if copy_paste is not None and len(dataset.image_ids) > 1 and copy_paste.wants_donor(rng):
        donor_id = rng.choice(np.setdiff1d(dataset.image_ids, [image_id]))
        donor = _load_resized(dataset, config, donor_id, None, rng)[:3]
        image, masks, class_ids = copy_paste(image, masks, class_ids, window, donor, rng)
    keep = masks.any(axis=(0, 1))
    masks, class_ids = masks[:, :, keep], class_ids[keep]
    if len(class_ids) > config.MAX_GT_INSTANCES:
        chosen = np.sort(rng.choice(len(class_ids), config.MAX_GT_INSTANCES, replace=False))
        masks, class_ids = masks[:, :, chosen], class_ids[chosen]
    boxes = extract_bboxes(masks).astype(np.float32)
    if config.USE_MINI_MASK:
        masks = minimize_mask(boxes.astype(np.int32), masks, tuple(config.MINI_MASK_SHAPE))
    return image, class_ids, boxes, np.transpose(masks, (2, 0, 1))


def pad_example(image, class_ids, boxes, masks, max_instances, normalization="mrcnn"):
    """Pad one example's ground truth to `max_instances` rows (the layout of mrcnn.data.batch).

    normalization: Config.BOX_NORMALIZATION, how the boxes are normalised (mrcnn.data.boxes.box_frame).
    """
    count = len(class_ids)
    height, width = image.shape[:2]
    padded_ids = np.zeros(max_instances, np.int32)
    padded_boxes = np.zeros((max_instances, 4), np.float32)
    padded_masks = np.zeros((max_instances,) + masks.shape[1:], np.uint8)
    padded_ids[:count] = class_ids
    padded_boxes[:count] = norm_boxes(boxes, (height, width), normalization)
    padded_masks[:count] = masks
    return padded_ids, padded_boxes, padded_masks


class DataGenerator(keras.utils.PyDataset):
    """Batches for `fit`, drawn in a fresh random order each epoch.

    `steps` batches make an epoch (default: one pass over the images). Augmentation is any
    object `augment.as_augmenter` accepts; images whose source is in `no_augmentation_sources`
    are never augmented (nor pasted on by `copy_paste`, a mrcnn.data.copy_paste.CopyPaste). Loading
    runs in `workers` threads.
    """

    def __init__(
        self,
        dataset,
        config,
        shuffle=True,
        augmentation=None,
        steps=None,
        seed=None,
        no_augmentation_sources=None,
        workers=1,
        copy_paste=None,
    ):
        super().__init__(workers=workers, use_multiprocessing=False)
        if not len(dataset.image_ids):
            raise ValueError("The dataset has no images; did you call dataset.prepare() after adding images?")
        self.dataset = dataset
        self.config = config
        self.shuffle = shuffle
        self.augmenter = augment_lib.as_augmenter(augmentation) if augmentation is not None else None
        self.no_augmentation_sources = set(no_augmentation_sources or ())
        self.copy_paste = copy_paste
        self.steps = steps or math.ceil(len(dataset.image_ids) / config.BATCH_SIZE)
        # Without a seed, one from NumPy's global generator: keras.utils.set_random_seed(n) makes a run repeat.
        self.seed = seed if seed is not None else int(np.random.randint(2**31))
        self.epoch = 0
        self._order = self._new_order()

    def _new_order(self):
        ids = np.array(self.dataset.image_ids)
        if self.shuffle:
            ids = np.random.default_rng([self.seed, self.epoch]).permutation(ids)
        return ids

    def __len__(self):
        return self.steps

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._new_order()

    def example(self, image_id, rng):
        source = self.dataset.image_info[image_id]["source"]
        plain = source in self.no_augmentation_sources
        example = load_example(
            self.dataset,
            self.config,
            image_id,
            None if plain else self.augmenter,
            rng,
            None if plain else self.copy_paste,
        )
        return example[0], *pad_example(*example, self.config.MAX_GT_INSTANCES, self.config.BOX_NORMALIZATION)

    def __getitem__(self, index):
        size = self.config.BATCH_SIZE
        order = self._order
        ids = [order[(index * size + j) % len(order)] for j in range(size)]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        columns = zip(*(self.example(i, rng) for i in ids))
        layout = batch_layout(self.config)
        return ({name: np.stack(column).astype(dtype) for (name, (_, dtype)), column in zip(layout.items(), columns)},)
