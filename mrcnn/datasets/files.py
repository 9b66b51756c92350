"""Image files as annotation files name them: Windows paths, EXIF orientation, folders that loop.

- ``resolve_image_path(folder, name)``: ``name`` under ``folder`` as written, else with Windows backslashes read as
  folder separators, else (an absolute path from another machine) its file name in ``folder``;
- ``image_frame(path, where, expected=None, upright=False)``: (height, width, exif) of the pixel grid the annotations
  of an image are drawn in. Phone photos are often stored sideways with an EXIF orientation tag; annotation tools
  that show them upright (LabelMe, Ultralytics, CVAT) give coordinates in the upright grid. ``expected`` (the size
  the annotation file states) picks the grid when the two differ in shape; otherwise ``upright`` (what the format's
  tool does) decides. An image under 2x2 pixels, which the model cannot take, is an error too. ``exif`` True
  means ``Dataset.load_image`` applies the orientation (``image_info["exif"]``);
- ``image_size(path, where)``: (height, width) of the stored grid, for formats whose tools do not turn images;
- ``walk_files(folder)``: the files under ``folder``, each once, following folder links without looping.
"""

import os
import re

from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.data.images import open_image

MIN_SIDE = 2  # the smallest image side the model takes (mrcnn.inference.mold)
ORIENTATION_TAG = 0x0112
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)  # the EXIF orientations that turn the image by 90 degrees
_WINDOWS_ABSOLUTE = re.compile(r"^([A-Za-z]:)?[\\/]")


def resolve_image_path(folder, name):
    """The existing file that ``name`` means under ``folder`` (see the module docstring); as written if none."""
    written = os.path.join(str(folder), name)
    candidates = [written]
    posix = name.replace("\\", "/")
    candidates.append(os.path.join(str(folder), posix))
    if _WINDOWS_ABSOLUTE.match(name):
        candidates.append(os.path.join(str(folder), posix.rsplit("/", 1)[-1]))
    return next((c for c in candidates if os.path.isfile(c)), written)


def _header(path):
    """(height, width, EXIF orientation or None) from the file's header."""
    with open_image(path) as image:
        try:
            orientation = image.getexif().get(ORIENTATION_TAG)
        except (OSError, ValueError, SyntaxError, TypeError):
            orientation = None  # a damaged EXIF block: use the raw grid
        return image.height, image.width, orientation if orientation in range(2, 9) else None


def image_frame(path, where, expected=None, upright=False):
    """(height, width, exif) of the grid the annotations of ``path`` use; DatasetError naming ``where`` if the file
    is missing or not an image, or if ``expected`` (height, width) is neither its raw nor its upright size."""
    try:
        height, width, orientation = _header(path)
    except FileNotFoundError:
        raise DatasetError(f"{where}: image file {path} not found") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise DatasetError(f"{where}: image file {path} is empty (0 bytes)") from None
        raise DatasetError(f"{where}: cannot read image {path} ({e}); the file is corrupt or not an image") from None
    if height < MIN_SIDE or width < MIN_SIDE:
        raise DatasetError(
            f"{where}: image {path} is {width}x{height}; images need at least {MIN_SIDE}x{MIN_SIDE} pixels"
        )
    raw = (height, width)
    turned = (width, height) if orientation in SWAPPING_ORIENTATIONS else raw
    if expected is not None:
        expected = tuple(int(v) for v in expected)
        if expected != raw and expected == turned:
            return (*turned, True)
        if expected not in (raw, turned):
            also = f" ({turned[1]}x{turned[0]} upright, by its EXIF orientation)" if turned != raw else ""
            raise DatasetError(
                f"{where}: image {path} is {width}x{height}{also} but the annotation says {expected[1]}x{expected[0]} "
                "(drawn on another image, or on a resized copy?)"
            )
        if expected == raw and turned != raw:
            return (*raw, False)
    if upright and orientation is not None:
        return (*turned, True)
    return (*raw, False)


def walk_files(folder):
    """Every file under ``folder`` (recursive, sorted), each real file once; linked folders are followed unless
    they lead back to a folder already walked (a link loop)."""
    seen_folders, seen_files, found = set(), set(), []
    for here, subfolders, files in os.walk(str(folder), followlinks=True):
        real = os.path.realpath(here)
        if real in seen_folders:
            subfolders[:] = []
            continue
        seen_folders.add(real)
        subfolders.sort()
        for name in sorted(files):
            path = os.path.join(here, name)
            target = os.path.realpath(path)
            if target not in seen_files and os.path.isfile(path):
                seen_files.add(target)
                found.append(path)
    return sorted(found)


def image_size(path, where):
    """(height, width) of the stored pixel grid of ``path`` (EXIF orientation not applied); errors as image_frame."""
    return image_frame(path, where)[:2]
