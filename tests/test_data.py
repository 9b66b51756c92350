"""The training data pipeline: batch contract, padding, augmentation, clear annotation errors."""

import numpy as np
import pytest
from tiny import TinyConfig, shapes

from mrcnn.data import augment
from mrcnn.data.generator import AnnotationError, DataGenerator, load_example


def test_batch_contract():
    config = TinyConfig()
    (batch,) = DataGenerator(shapes(), config, shuffle=False)[0]
    g = config.MAX_GT_INSTANCES
    assert batch["image"].shape == (2, 128, 128, 3) and batch["image"].dtype == np.float32
    assert batch["gt_class_ids"].shape == (2, g) and batch["gt_class_ids"].dtype == np.int32
    assert batch["gt_boxes"].shape == (2, g, 4)
    assert batch["gt_masks"].shape == (2, g, 56, 56) and batch["gt_masks"].dtype == np.uint8
    count = (batch["gt_class_ids"][0] > 0).sum()
    assert count >= 1
    assert np.all(batch["gt_boxes"][0, count:] == 0) and np.all(batch["gt_masks"][0, count:] == 0)
    boxes = batch["gt_boxes"][0, :count]
    assert np.all((boxes >= 0) & (boxes <= 1)) and np.all(boxes[:, 2:] > boxes[:, :2])


def test_full_masks_when_mini_masks_are_off():
    config = TinyConfig(USE_MINI_MASK=False)
    (batch,) = DataGenerator(shapes(), config, shuffle=False)[0]
    assert batch["gt_masks"].shape == (2, 5, 128, 128)
    ids, boxes, masks = batch["gt_class_ids"][0], batch["gt_boxes"][0], batch["gt_masks"][0]
    for box, mask in zip(boxes[ids > 0], masks[ids > 0]):
        ys, xs = np.nonzero(mask)
        np.testing.assert_allclose(box * 128, [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])


def test_epochs_reshuffle_and_steps_wrap_around():
    generator = DataGenerator(shapes(count=8), TinyConfig(), steps=5, seed=1)
    assert len(generator) == 5
    orders = [list(generator._order)]
    for _ in range(3):
        generator.on_epoch_end()
        orders.append(list(generator._order))
    assert all(sorted(order) == list(range(8)) for order in orders)  # Each epoch is a permutation...
    assert orders[0] != list(range(8))  # ...shuffled from the first epoch on (seed 1: fixed orders)...
    assert len({tuple(order) for order in orders}) == 4  # ...and a new one every epoch.
    (batch,) = generator[4]  # index * batch wraps past the 8 images
    assert batch["image"].shape[0] == 2


def test_augmentation_keeps_masks_aligned():
    data = shapes(count=1)
    flip = augment.Fliplr(p=1.0)
    rng = np.random.default_rng(0)
    image, ids, boxes, masks = load_example(data, TinyConfig(USE_MINI_MASK=False), 0, augment.as_augmenter(flip), rng)
    plain_image, _, plain_boxes, _ = load_example(data, TinyConfig(USE_MINI_MASK=False), 0)
    np.testing.assert_array_equal(image, plain_image[:, ::-1])
    np.testing.assert_allclose(boxes[:, [1, 3]], 128 - plain_boxes[:, [3, 1]])


class BrokenMasks:
    """A dataset whose load_mask disagrees with its image."""

    def __init__(self, data, masks, class_ids):
        self.data, self.masks, self.class_ids = data, masks, class_ids
        self.num_classes = data.num_classes

    def __getattr__(self, name):
        return getattr(self.data, name)

    def load_mask(self, image_id):
        return self.masks, self.class_ids


@pytest.mark.parametrize(
    "masks, class_ids, message",
    [
        (np.zeros((10, 10, 1), bool), np.array([1]), "matching the image"),
        (np.zeros((128, 128, 2), bool), np.array([1]), "2 masks but class_ids"),
        (np.zeros((128, 128, 1), bool), np.array([9]), "exceed"),
    ],
)
def test_malformed_annotations_get_clear_errors(masks, class_ids, message):
    broken = BrokenMasks(shapes(count=1), masks, class_ids)
    with pytest.raises(AnnotationError, match=message):
        load_example(broken, TinyConfig(), 0)


def test_empty_masks_are_dropped_not_fatal():
    masks = np.zeros((128, 128, 2), bool)
    masks[10:20, 10:30, 1] = True
    broken = BrokenMasks(shapes(count=1), masks, np.array([1, 2]))
    _, ids, boxes, _ = load_example(broken, TinyConfig(), 0)
    assert ids.tolist() == [2] and boxes.tolist() == [[10, 10, 20, 30]]


def test_an_empty_dataset_is_refused():
    empty = shapes(count=0)
    with pytest.raises(ValueError, match="no images"):
        DataGenerator(empty, TinyConfig())


def test_an_unseeded_generator_repeats_after_keras_set_random_seed():
    import keras

    data = shapes(8, 64)
    runs = []
    for _ in range(2):
        keras.utils.set_random_seed(3)
        generator = DataGenerator(data, TinyConfig(), shuffle=True)
        runs.append((generator.seed, list(generator._order)))
    assert runs[0] == runs[1]
    keras.utils.set_random_seed(4)
    assert DataGenerator(data, TinyConfig(), shuffle=True).seed != runs[0][0]
