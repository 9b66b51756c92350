"""Reading a user's image files into RGB uint8 arrays."""

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mrcnn.data.errors import DatasetError

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _read_rgb(path, exif=False):
    """Decode an image file with PIL into RGB uint8 [H, W, 3]; EXIF orientation only if `exif`."""
    with Image.open(path) as im:
        im.load()
        if exif:
            im = ImageOps.exif_transpose(im)
        if im.mode in _SIXTEEN_BIT_MODES:
            wide = np.clip(np.asarray(im, dtype=np.int64), 0, 65535)
            gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
            return np.repeat(gray[:, :, None], 3, axis=2)
        if im.mode != "RGB":
            im = im.convert("RGB")  # gray -> 3 channels, palette expanded, alpha dropped
        return np.asarray(im, dtype=np.uint8).copy()


def read_image(path, exif=True):
    """Read a user's image file as RGB uint8 [H, W, 3], upright (EXIF orientation applied).

    Raises DatasetError naming the file if it is missing or cannot be decoded.
    """
    try:
        return _read_rgb(path, exif=exif)
    except FileNotFoundError:
        raise DatasetError(f"image file not found: {path}") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise DatasetError(f"cannot decode {path} ({err}); the file is corrupt or not an image") from None
