"""A stand-in `imgaug` for matterport's samples when the real package is not installed.

matterport's coco.py (`import imgaug`, `imgaug.augmenters.Fliplr(0.5)`) and nucleus.py
(`from imgaug import augmenters as iaa`) import imgaug at module level, and imgaug does not import on
NumPy 2 (it is unmaintained). `import mrcnn` appends a finder to the end of sys.meta_path: a real imgaug
anywhere on sys.path is still found first; only when there is none, `imgaug` and `imgaug.augmenters` come
from here, with the augmenters of mrcnn.data.augment under imgaug's names (Fliplr, Flipud, Multiply,
Contrast, GaussianBlur, Affine, Sometimes, SomeOf, OneOf, Sequential). Anything else imgaug has raises
an AttributeError that says so. Nothing is imported until `import imgaug` runs.
"""

import importlib
import importlib.abc
import importlib.machinery
import sys

AUGMENTER_NAMES = (
    "Fliplr",
    "Flipud",
    "Multiply",
    "Contrast",
    "GaussianBlur",
    "Affine",
    "Sometimes",
    "SomeOf",
    "OneOf",
    "Sequential",
)
MODULES = ("imgaug", "imgaug.augmenters")


def _missing(module_name):
    def __getattr__(name):
        raise AttributeError(
            f"{module_name}.{name}: imgaug is not installed (it does not import on NumPy 2); mrcnn stands in for "
            f"it with {', '.join(AUGMENTER_NAMES)} only (mrcnn.data.augment)"
        )

    return __getattr__


class StandInFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds `imgaug` and `imgaug.augmenters` when no other finder on sys.meta_path did."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MODULES:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname == "imgaug")

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        module.MRCNN_STAND_IN = True
        module.__getattr__ = _missing(module.__name__)
        if module.__name__ == "imgaug":
            module.__version__ = "0+mrcnn.stand.in"
            module.augmenters = importlib.import_module("imgaug.augmenters")
        else:
            from mrcnn.data import augment

            for name in AUGMENTER_NAMES:
                setattr(module, name, getattr(augment, name))


def install():
    """Append the finder to sys.meta_path (once)."""
    if not any(isinstance(finder, StandInFinder) for finder in sys.meta_path):
        sys.meta_path.append(StandInFinder())
