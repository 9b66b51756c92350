"""The one image decoder: files, bytes or arrays of any common mode -> RGB uint8 [H, W, 3].

Used by datasets (Dataset.load_image), utils.read_image, the API (mrcnn_api.imageio) and
mold.check_image, so an image gets the same network input wherever it comes from. Policy:
- alpha (RGBA, LA, PA, palette or RGB with a transparent colour): composited on WHITE, so a fully
  transparent pixel is white whatever colour is stored under it;
- grayscale: repeated to 3 channels; palette and CMYK: converted to RGB;
- 16-bit and 32-bit integer ("I;16*", "I"): v * 255 / 65535, rounded (clipped to 0..65535);
- float ("F"): scaled by 255 if it lies within [0, 1], else clipped to 0..255;
- EXIF orientation: applied if `exif` (default); Dataset.load_image passes exif=False on purpose.
"""

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mrcnn.data.errors import DatasetError

# What Pillow raises for a file that is truncated, corrupt or not an image.
DECODE_ERRORS = (UnidentifiedImageError, OSError, ValueError, SyntaxError)
_ALPHA_MODES = ("RGBA", "LA", "PA", "La", "RGBa")


def open_image(source, formats=None):
    """Open `source` (path, bytes or binary file object) with PIL, reading only the header."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        source = io.BytesIO(source)
    return Image.open(source, formats=formats)


def image_size(source):
    """(height, width) of an image (path, bytes or binary file object), from its header only."""
    with open_image(source) as image:
        return image.height, image.width


def decode_image(source, exif=True):
    """Decode `source` (path, bytes or binary file object) to RGB uint8 [H, W, 3] (module policy).

    Raises FileNotFoundError for a missing path and one of DECODE_ERRORS for undecodable data.
    """
    with open_image(source) as image:
        return pil_to_rgb(image, exif=exif)


def pil_to_rgb(image, exif=True):
    """Load an opened PIL image of any mode and convert it to RGB uint8 [H, W, 3] (module policy)."""
    image.load()
    if exif:
        image = ImageOps.exif_transpose(image)
    if image.mode.startswith("I") or image.mode == "F":
        return rgb_array(_high_depth_to_uint8(np.asarray(image), image.mode))
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        return rgb_array(np.asarray(image.convert("RGBA"), dtype=np.uint8))
    if image.mode not in ("L", "RGB"):
        image = image.convert("RGB")  # palette, CMYK, YCbCr, 1-bit, ...
    return rgb_array(np.asarray(image, dtype=np.uint8))


def _high_depth_to_uint8(gray, mode):
    """[H, W] pixels of an "I;16*"/"I" (0..65535) or "F" image -> uint8 [H, W]."""
    if mode == "F":
        gray = gray.astype(np.float64)
        if gray.size and np.nanmax(gray) <= 1.0:
            gray = gray * 255.0
        return np.clip(np.rint(np.nan_to_num(gray)), 0, 255).astype(np.uint8)
    wide = np.clip(gray.astype(np.int64), 0, 65535)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def rgb_array(pixels):
    """uint8 [H, W], [H, W, 1], [H, W, 3] or [H, W, 4] (RGBA) -> RGB uint8 [H, W, 3].

    Gray is repeated to 3 channels; alpha is composited on white: rgb * a + 255 * (1 - a), rounded.
    """
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[-1] == 1:
        return np.repeat(pixels, 3, axis=-1)
    if pixels.shape[-1] == 4:
        alpha = pixels[..., 3:].astype(np.uint32)
        blended = pixels[..., :3].astype(np.uint32) * alpha + 255 * (255 - alpha)
        return ((blended + 127) // 255).astype(np.uint8)
    return np.ascontiguousarray(pixels)


LUMA = (0.299, 0.587, 0.114)  # ITU-R 601, as PIL's convert("L")


def channel_array(pixels, channels=3):
    """uint8 [H, W] or [H, W, k] -> [H, W, channels]: the model's input (Config.IMAGE_CHANNEL_COUNT).

    3: rgb_array. 1: gray kept, colour (RGB or RGBA) to luma as PIL's "L". Other counts: the image must
    already have them (e.g. RGB + near-infrared from your Dataset.load_image). ValueError otherwise.
    """
    if channels == 3:
        return rgb_array(pixels)
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[-1] == channels:
        return np.ascontiguousarray(pixels)
    if channels == 1 and pixels.shape[-1] in (3, 4):
        gray = rgb_array(pixels).astype(np.float32) @ np.array(LUMA, np.float32)
        return np.clip(np.rint(gray), 0, 255).astype(np.uint8)[:, :, None]
    raise ValueError(
        f"the model takes {channels} channel(s) (IMAGE_CHANNEL_COUNT) but the image has {pixels.shape[-1]}; "
        "return that many channels from your Dataset.load_image"
    )


def read_image(path, exif=True):
    """Read a user's image file as RGB uint8 [H, W, 3], upright (EXIF orientation applied).

    Raises DatasetError naming the file if it is missing or cannot be decoded.
    """
    try:
        return decode_image(path, exif=exif)
    except FileNotFoundError:
        raise DatasetError(f"image file not found: {path}") from None
    except DECODE_ERRORS as err:
        raise DatasetError(f"cannot decode {path} ({err}); the file is corrupt or not an image") from None
