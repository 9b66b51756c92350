"""Built-in augmenters and the albumentations / imgaug adapters keep image and masks aligned."""

import sys
import types

import albumentations as A
import numpy as np
import pytest

from mrcnn.data.augment import (
    IMGAUG_MASK_SAFE,
    PRESETS,
    Affine,
    Augmenter,
    Contrast,
    Fliplr,
    Flipud,
    GaussianBlur,
    Multiply,
    OneOf,
    Sequential,
    Sometimes,
    as_augmenter,
    default_augmentation,
    gaussian_kernel,
    preset,
    scale_jitter_augmentation,
)

H, W = 48, 64


def scene(seed=0):
    """Image whose red channel is 255 exactly on mask 0 and green exactly on mask 1; blue is noise."""
    rows, cols = np.mgrid[:H, :W]
    disc = (rows - 18) ** 2 + (cols - 20) ** 2 < 10**2
    box = (rows >= 24) & (rows < 42) & (cols >= 36) & (cols < 58)
    masks = np.stack([disc, box], axis=-1)
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = disc * 255
    image[..., 1] = box * 255
    image[..., 2] = np.random.default_rng(seed).integers(0, 256, (H, W))
    return image, masks


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


GEOMETRIC_AND_PHOTOMETRIC = {
    "fliplr": Fliplr(1.0),
    "flipud": Flipud(1.0),
    "multiply": Multiply((0.8, 1.2)),
    "contrast": Contrast((0.75, 1.25)),
    "blur": GaussianBlur((0.5, 1.5)),
    "affine": Affine(scale=(0.8, 1.2), rotate=(-30, 30)),
    "sometimes": Sometimes(0.5, Affine(scale=(0.9, 1.1))),
    "one_of": OneOf([Fliplr(1.0), Flipud(1.0), Affine(rotate=(-20, 20))]),
    "sequential": Sequential([Flipud(0.5), Affine(rotate=(-10, 10)), Multiply((0.9, 1.1))], random_order=True),
    "default": default_augmentation(),
    "scale_jitter": scale_jitter_augmentation(),
    "shift": Affine(translate=(-0.1, 0.1)),
}


@pytest.mark.parametrize("name", sorted(GEOMETRIC_AND_PHOTOMETRIC))
def test_masks_stay_aligned_with_the_image(name):
    augment = as_augmenter(GEOMETRIC_AND_PHOTOMETRIC[name])
    image, masks = scene()
    for seed in range(4):
        out_image, out_masks = augment(image, masks, np.random.default_rng(seed))
        assert out_image.shape == image.shape and out_image.dtype == np.uint8
        assert out_masks.shape == masks.shape and out_masks.dtype == bool
        for channel in range(2):
            assert iou(out_image[..., channel] > 127, out_masks[..., channel]) > 0.9, (name, seed, channel)


def test_flips_are_exact():
    image, masks = scene()
    rng = np.random.default_rng(0)
    out_image, out_masks = as_augmenter(Fliplr(1.0))(image, masks, rng)
    np.testing.assert_array_equal(out_image, image[:, ::-1])
    np.testing.assert_array_equal(out_masks, masks[:, ::-1])
    out_image, out_masks = as_augmenter(Flipud(1.0))(image, masks, rng)
    np.testing.assert_array_equal(out_image, image[::-1])
    np.testing.assert_array_equal(out_masks, masks[::-1])
    unchanged = as_augmenter(Fliplr(0.0))(image, masks, rng)
    np.testing.assert_array_equal(unchanged[0], image)


def test_affine_rotates_counter_clockwise_about_the_centre():
    image, masks = scene()
    square_image, square_masks = image[:, :H], masks[:, :H]
    out_image, out_masks = as_augmenter(Affine(rotate=(90, 90)))(square_image, square_masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_masks, np.rot90(square_masks))
    assert np.abs(out_image.astype(int) - np.rot90(square_image)).max() <= 1  # Bilinear rounding only.
    same_image, same_masks = as_augmenter(Affine())(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(same_image, image)
    np.testing.assert_array_equal(same_masks, masks)
    rows, cols = np.mgrid[:H, :W]
    centred = ((rows - H / 2 + 0.5) ** 2 + (cols - W / 2 + 0.5) ** 2 < 8**2)[..., None]
    zoomed = as_augmenter(Affine(scale=(2.0, 2.0)))(image, centred, np.random.default_rng(0))[1]
    assert 3.8 < zoomed.sum() / centred.sum() < 4.2  # Area grows by scale squared, about the centre.
    np.testing.assert_array_equal(zoomed, zoomed[::-1, ::-1])  # Still centred (symmetric).


def test_photometric_values():
    image, masks = scene()
    rng = np.random.default_rng(0)
    doubled, same_masks = as_augmenter(Multiply((2.0, 2.0)))(image, masks, rng)
    np.testing.assert_array_equal(doubled, np.clip(image.astype(int) * 2, 0, 255))
    np.testing.assert_array_equal(same_masks, masks)
    flat = as_augmenter(Contrast((0.0, 0.0)))(image, masks, rng)[0]
    assert np.ptp(flat) == 0 and abs(int(flat[0, 0, 0]) - image.mean()) <= 1


def test_gaussian_blur_is_a_normalised_separable_gaussian():
    kernel = gaussian_kernel(1.0)
    assert len(kernel) == 7 and np.isclose(kernel.sum(), 1.0) and np.allclose(kernel, kernel[::-1])
    constant = np.full((H, W, 3), 77, np.uint8)
    masks = np.zeros((H, W, 0), bool)
    blur = as_augmenter(GaussianBlur((1.0, 1.0)))
    np.testing.assert_array_equal(blur(constant, masks, np.random.default_rng(0))[0], constant)
    impulse = np.zeros((H, W, 3), np.uint8)
    impulse[20, 30] = 255
    out = blur(impulse, masks, np.random.default_rng(0))[0].astype(float)
    expected = np.outer(kernel, kernel) * 255
    np.testing.assert_allclose(out[17:24, 27:34, 0], expected, atol=0.51)
    assert out[..., 0].sum() == pytest.approx(255, abs=10)


def test_seeded_rng_repeats_and_seeds_differ():
    augment = as_augmenter(Sequential([default_augmentation(), GaussianBlur(), Contrast()], random_order=True))
    image, masks = scene()
    first = augment(image, masks, np.random.default_rng(7))
    again = augment(image, masks, np.random.default_rng(7))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    others = [augment(image, masks, np.random.default_rng(seed))[0] for seed in range(8, 12)]
    assert any(not np.array_equal(first[0], other) for other in others)


@pytest.mark.parametrize("name", sorted(GEOMETRIC_AND_PHOTOMETRIC))
def test_zero_instances(name):
    image, _ = scene()
    empty = np.zeros((H, W, 0), bool)
    out_image, out_masks = as_augmenter(GEOMETRIC_AND_PHOTOMETRIC[name])(image, empty, np.random.default_rng(1))
    assert out_image.shape == image.shape and out_masks.shape == (H, W, 0) and out_masks.dtype == bool


def test_default_augmentation_contents():
    augment = default_augmentation()
    assert [type(a.augmenter).__name__ for a in augment.augmenters] == ["Fliplr", "Sometimes", "Sometimes"]
    image, masks = scene()
    assert as_augmenter("default")(image, masks, np.random.default_rng(0))[0].shape == image.shape


def test_affine_translate_moves_by_a_fraction_of_the_size():
    image, masks = scene()
    shifted = Affine(translate=(0.25, 0.25))(image, masks, np.random.default_rng(0))[1]
    rows, cols = np.nonzero(masks[..., 0])
    new_rows, new_cols = np.nonzero(shifted[..., 0])
    assert new_rows.min() - rows.min() == H // 4 and new_cols.min() - cols.min() == W // 4


def test_presets_by_name():
    image, masks = scene()
    assert as_augmenter("scale_jitter")(image, masks, np.random.default_rng(0))[0].shape == image.shape
    assert preset(None) is None and set(PRESETS) == {"default", "scale_jitter"}
    with pytest.raises(ValueError, match="Unknown augmentation preset 'strong'"):
        as_augmenter("strong")


def test_bad_parameters():
    with pytest.raises(ValueError, match=r"Probability p must be in \[0, 1\]"):
        Fliplr(1.5)
    with pytest.raises(ValueError, match="Multiply mul must satisfy"):
        Multiply((1.2, 0.8))
    with pytest.raises(ValueError, match="Affine rotate must be a"):
        Affine(rotate=(10, 20, 30))  # a number is a constant (imgaug's meaning); three numbers are refused
    with pytest.raises(ValueError, match="OneOf needs at least one"):
        OneOf([])


# ---------------------------------------------------------------- adapters and validation


def test_albumentations_horizontal_flip():
    augment = as_augmenter(A.HorizontalFlip(p=1.0))
    image, masks = scene()
    out_image, out_masks = augment(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, image[:, ::-1])
    np.testing.assert_array_equal(out_masks, masks[:, ::-1])
    assert out_masks.dtype == bool
    assert augment(image, masks[..., :0], np.random.default_rng(0))[1].shape == (H, W, 0)


def test_albumentations_is_reseeded_from_rng():
    augment = as_augmenter(A.Compose([A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=0.5)]))
    image, masks = scene()
    runs = [augment(image, masks, np.random.default_rng(seed))[0] for seed in (3, 3, 4, 5, 6, 7)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert any(not np.array_equal(runs[0], other) for other in runs[2:])


def test_albumentations_inside_builtin_containers():
    augment = as_augmenter(Sequential([Flipud(1.0), A.HorizontalFlip(p=1.0)]))
    image, masks = scene()
    out_image, out_masks = augment(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, image[::-1, ::-1])
    np.testing.assert_array_equal(out_masks, masks[::-1, ::-1])


def test_shape_changing_augmenter_is_refused():
    image, masks = scene()
    with pytest.raises(ValueError, match="changed the shapes.*shape-preserving"):
        as_augmenter(A.RandomCrop(16, 16, p=1.0))(image, masks, np.random.default_rng(0))

    class Crop(Augmenter):
        def __call__(self, image, masks, rng):
            return image[1:], masks[1:]

    with pytest.raises(ValueError, match=r"image \(48, 64, 3\) -> \(47, 64, 3\)"):
        as_augmenter(Crop())(image, masks, np.random.default_rng(0))


def test_bad_inputs_are_reported():
    augment = as_augmenter(Fliplr(1.0))
    image, masks = scene()
    with pytest.raises(ValueError, match=r"image must be uint8 \[H, W, C\]"):
        augment(image.astype(np.float32), masks, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"masks must be \[H, W, N\]"):
        augment(image, masks[..., 0], np.random.default_rng(0))
    with pytest.raises(TypeError, match="numpy.random.Generator"):
        augment(image, masks, np.random.RandomState(0))


@pytest.mark.parametrize("obj", [42, lambda image, masks, rng: (image, masks), None])
def test_unknown_objects_raise_type_error(obj):
    with pytest.raises(TypeError, match="as an augmenter"):
        as_augmenter(obj)


class FakeImgaugAugmenter:
    """Duck-typed imgaug augmenter: only `to_deterministic` marks it as imgaug."""

    def to_deterministic(self):
        raise AssertionError("must not be called when imgaug is missing")


def test_imgaug_missing_explains_numpy2(monkeypatch):
    monkeypatch.setitem(sys.modules, "imgaug", None)  # Any `import imgaug` now raises ImportError.
    with pytest.raises(ImportError) as info:
        as_augmenter(FakeImgaugAugmenter())
    message = str(info.value)
    assert "NumPy 2" in message and "np.sctypes" in message and "albumentations" in message
    assert "Fliplr" in message


def fake_imgaug_module():
    """Just enough of imgaug's API (HooksImages, deterministic augmenters) to check the adapter."""

    class HooksImages:
        def __init__(self, activator):
            self.activator = activator

    class Fliplr:
        def augment_image(self, image, hooks=None):
            return image[:, ::-1]

    class Multiply:
        def augment_image(self, image, hooks=None):
            return np.clip(image.astype(int) * 2, 0, 255).astype(image.dtype)

    class Sequential:
        def __init__(self, children):
            self.children = children
            self.deterministic_copies = 0

        def to_deterministic(self):
            self.deterministic_copies += 1
            return self

        def augment_image(self, image, hooks=None):
            for child in self.children:
                if hooks is None or hooks.activator([image], child, [self], True):
                    image = child.augment_image(image)
            return image

    module = types.ModuleType("imgaug")
    module.HooksImages = HooksImages
    return module, Sequential([Fliplr(), Multiply()])


def test_imgaug_adapter_applies_only_mask_safe_augmenters_to_masks(monkeypatch):
    module, augmenter = fake_imgaug_module()
    monkeypatch.setitem(sys.modules, "imgaug", module)
    assert {"Fliplr", "Affine"} <= IMGAUG_MASK_SAFE and "Multiply" not in IMGAUG_MASK_SAFE
    image, masks = scene()
    out_image, out_masks = as_augmenter(augmenter)(image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, np.clip(image[:, ::-1].astype(int) * 2, 0, 255))
    np.testing.assert_array_equal(out_masks, masks[:, ::-1])  # Flipped, not multiplied.
    assert augmenter.deterministic_copies == 1
