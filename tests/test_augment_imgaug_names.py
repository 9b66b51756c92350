"""matterport's imgaug recipes (coco.py, nucleus.py) run with `from mrcnn.data import augment as iaa`."""

import numpy as np
import pytest

from mrcnn.data import augment as iaa


def _image_and_masks():
    image = np.zeros((32, 48, 3), np.uint8)
    image[4:12, 6:20] = 200
    masks = np.zeros((32, 48, 1), bool)
    masks[4:12, 6:20, 0] = True
    return image, masks


def nucleus_recipe(iaa=iaa):
    """nucleus.py's training augmentation, spelled with imgaug's names and arguments (from `iaa`)."""
    return iaa.SomeOf(
        (0, 2),
        [
            iaa.Fliplr(0.5),
            iaa.Flipud(0.5),
            iaa.OneOf([iaa.Affine(rotate=90), iaa.Affine(rotate=180), iaa.Affine(rotate=270)]),
            iaa.Multiply((0.8, 1.5)),
            iaa.GaussianBlur(sigma=(0.0, 5.0)),
        ],
    )


def test_nucleus_recipe_runs_and_keeps_masks_with_the_image():
    image, masks = _image_and_masks()
    augmenter = iaa.as_augmenter(nucleus_recipe())
    changed = 0
    for seed in range(20):
        out, out_masks = augmenter(image, masks, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8 and out_masks.shape == masks.shape
        changed += not np.array_equal(out_masks, masks)
    assert changed > 0  # flips and rotations move the mask


def test_scalar_arguments_mean_a_constant_as_in_imgaug():
    image, masks = _image_and_masks()
    out, out_masks = iaa.as_augmenter(iaa.Affine(rotate=180))(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_masks[..., 0], masks[::-1, ::-1, 0])
    out, _ = iaa.as_augmenter(iaa.Multiply(0.5))(image, masks, np.random.default_rng(0))
    assert out.max() == 100


def test_some_of_applies_between_low_and_high_children():
    calls = []

    class Count(iaa.Augmenter):
        def __call__(self, image, masks, rng):
            calls.append(1)
            return image, masks

    image, masks = _image_and_masks()
    some = iaa.SomeOf((1, None), [Count(), Count(), Count()])
    counts = set()
    for seed in range(30):
        calls.clear()
        some(image, masks, np.random.default_rng(seed))
        counts.add(len(calls))
    assert counts == {1, 2, 3}
    with pytest.raises(ValueError, match="SomeOf n"):
        iaa.SomeOf(4, [Count()])


def test_sometimes_takes_imgaug_child_lists_and_an_else_branch():
    image, masks = _image_and_masks()
    always_else = iaa.Sometimes(0.0, [iaa.Fliplr(1.0)], [iaa.Flipud(1.0)])
    _, out_masks = always_else(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_masks, masks[::-1])


def test_coco_recipe_fliplr():
    image, masks = _image_and_masks()
    out, out_masks = iaa.as_augmenter(iaa.Fliplr(1.0))(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out, image[:, ::-1])
