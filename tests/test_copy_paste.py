"""Copy-paste augmentation: pixels and masks stay consistent, the window is respected, bad settings fail."""

import numpy as np
import pytest
from tiny import TinyConfig, shapes

from mrcnn.data.copy_paste import CopyPaste
from mrcnn.data.generator import DataGenerator, load_example


def _square(size, y1, x1, y2, x2):
    mask = np.zeros((size, size), bool)
    mask[y1:y2, x1:x2] = True
    return mask


def _target():
    image = np.full((64, 64, 3), 10, np.uint8)
    masks = _square(64, 0, 0, 64, 64)[:, :, None]  # one instance covering everything
    return image, masks, np.array([1], np.int32)


def _donor():
    image = np.zeros((64, 64, 3), np.uint8)
    image[8:24, 8:24] = 200
    masks = _square(64, 8, 8, 24, 24)[:, :, None]
    return image, masks, np.array([2], np.int32)


def test_paste_copies_donor_pixels_and_occludes_the_target():
    rng = np.random.default_rng(0)
    image, masks, ids = CopyPaste(1.0, scale=(1.0, 1.0))(*_target(), (0, 0, 64, 64), _donor(), rng)
    assert ids.tolist() == [1, 2]
    pasted = masks[:, :, 1]
    assert pasted.sum() == 16 * 16
    assert np.all(image[pasted] == 200) and np.all(image[~pasted] == 10)
    np.testing.assert_array_equal(masks[:, :, 0], ~pasted)


def test_pasted_pixels_line_up_with_their_mask_plain_or_mirrored():
    donor_image = np.zeros((64, 64, 3), np.uint8)
    donor_image[8:24, 8:40, 0] = np.arange(32, dtype=np.uint8) * 7 + 1  # a left-to-right ramp
    donor = (donor_image, _square(64, 8, 8, 24, 40)[:, :, None], np.array([1]))
    source = donor_image[8:24, 8:40]
    flips = set()
    for seed in range(8):
        image, masks, _ = CopyPaste(1.0, scale=(1.0, 1.0))(
            *_target(), (0, 0, 64, 64), donor, np.random.default_rng(seed)
        )
        ys, xs = np.nonzero(masks[:, :, 1])
        patch = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        mirrored = np.array_equal(patch, source[:, ::-1])
        assert mirrored or np.array_equal(patch, source)
        flips.add(mirrored)
    assert flips == {True, False}


def test_paste_is_scaled_and_stays_inside_the_window():
    window = (16, 16, 48, 48)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        _, masks, _ = CopyPaste(1.0, scale=(0.5, 0.5))(*_target(), window, _donor(), rng)
        ys, xs = np.nonzero(masks[:, :, 1])
        assert masks[:, :, 1].sum() == 8 * 8
        assert ys.min() >= 16 and ys.max() < 48 and xs.min() >= 16 and xs.max() < 48


def test_a_patch_larger_than_the_window_is_shrunk_to_fit():
    rng = np.random.default_rng(1)
    _, masks, _ = CopyPaste(1.0, scale=(4.0, 4.0))(*_target(), (0, 0, 32, 32), _donor(), rng)
    assert masks[:, :, 1].sum() == 32 * 32


def test_crowd_only_donor_changes_nothing():
    image, masks, _ = _donor()
    target = _target()
    out = CopyPaste(1.0)(*target, (0, 0, 64, 64), (image, masks, np.array([-1])), np.random.default_rng(0))
    assert out[0] is target[0] and out[2].tolist() == [1]


@pytest.mark.parametrize("kwargs", [{"probability": 1.5}, {"scale": (0.0, 1.0)}, {"scale": (1.0, 0.5)}])
def test_bad_settings_are_rejected(kwargs):
    with pytest.raises(ValueError, match="CopyPaste"):
        CopyPaste(**kwargs)


def test_config_switches_it_on_and_validates():
    assert CopyPaste.from_config(TinyConfig()) is None
    assert CopyPaste.from_config(TinyConfig(COPY_PASTE_PROB=0.3)).probability == 0.3
    with pytest.raises(ValueError, match="COPY_PASTE_SCALE"):
        TinyConfig(COPY_PASTE_SCALE=(2.0, 1.0))


def test_training_examples_gain_instances_from_other_images():
    data, config = shapes(count=3), TinyConfig(USE_MINI_MASK=False)
    plain = load_example(data, config, 0, rng=np.random.default_rng(0))
    pasted = load_example(data, config, 0, rng=np.random.default_rng(0), copy_paste=CopyPaste(1.0))
    assert len(pasted[1]) > len(plain[1])
    for box, mask in zip(pasted[2], pasted[3]):  # boxes are recomputed from the occluded masks
        ys, xs = np.nonzero(mask)
        np.testing.assert_allclose(box, [ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])


def test_generator_skips_copy_paste_for_no_augmentation_sources():
    data = shapes(count=3)
    source = data.image_info[0]["source"]
    generator = DataGenerator(
        data, TinyConfig(), shuffle=False, copy_paste=CopyPaste(1.0), no_augmentation_sources=[source]
    )
    plain = DataGenerator(data, TinyConfig(), shuffle=False)
    np.testing.assert_array_equal(generator[0][0]["image"], plain[0][0]["image"])
