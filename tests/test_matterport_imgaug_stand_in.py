"""matterport's coco.py / nucleus.py import imgaug at module level; without imgaug mrcnn stands in for it."""

import importlib
import importlib.machinery
import sys

import numpy as np
import pytest
from test_augment_imgaug_names import nucleus_recipe

import mrcnn  # noqa: F401  (installs the finder)
from mrcnn.data import augment
from mrcnn.imgaug_stand_in import StandInFinder


@pytest.fixture
def fresh_imgaug(monkeypatch):
    for name in [n for n in sys.modules if n == "imgaug" or n.startswith("imgaug.")]:
        monkeypatch.delitem(sys.modules, name)
    yield
    for name in [n for n in sys.modules if n == "imgaug" or n.startswith("imgaug.")]:
        del sys.modules[name]


def test_import_mrcnn_installs_one_finder_after_the_path_finder():
    finders = [f for f in sys.meta_path if isinstance(f, StandInFinder)]
    assert len(finders) == 1
    assert sys.meta_path.index(finders[0]) > sys.meta_path.index(importlib.machinery.PathFinder)
    importlib.reload(mrcnn)
    assert len([f for f in sys.meta_path if isinstance(f, StandInFinder)]) == 1


def test_coco_and_nucleus_spellings_give_mrcnn_augmenters(fresh_imgaug):
    import imgaug
    from imgaug import augmenters as iaa

    assert imgaug.MRCNN_STAND_IN and imgaug.augmenters is iaa
    assert imgaug.augmenters.Fliplr is augment.Fliplr and iaa.GaussianBlur is augment.GaussianBlur
    recipe = nucleus_recipe(iaa)  # nucleus.py's recipe, spelled with the stand-in's names
    image = np.zeros((8, 12, 3), np.uint8)
    image[:, :3] = 200
    masks = np.zeros((8, 12, 1), bool)
    masks[:, :3] = True
    flipped, flipped_masks = augment.as_augmenter(imgaug.augmenters.Fliplr(1.0))(image, masks)
    assert flipped[0, -1, 0] == 200 and flipped_masks[0, -1, 0] and not flipped_masks[0, 0, 0]
    out, out_masks = augment.as_augmenter(recipe)(image, masks, np.random.default_rng(0))
    assert out.shape == image.shape and out_masks.shape == masks.shape


def test_names_imgaug_has_but_mrcnn_not_say_so(fresh_imgaug):
    import imgaug.augmenters as iaa

    with pytest.raises(AttributeError, match="PiecewiseAffine: imgaug is not installed"):
        iaa.PiecewiseAffine


def test_a_real_imgaug_on_the_path_wins(fresh_imgaug, tmp_path, monkeypatch):
    package = tmp_path / "imgaug"
    package.mkdir()
    (package / "__init__.py").write_text("REAL = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import imgaug

    assert imgaug.REAL and not hasattr(imgaug, "MRCNN_STAND_IN")
