"""Decode untrusted image bytes to an RGB uint8 array, with size limits checked before decoding.

Status codes raised (as ApiError): 400 empty input, 413 too many pixels (read from the header,
before any pixel is decoded), 422 bytes that are not a decodable image of an allowed format
(unknown format, truncated or corrupt file).
"""

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from .errors import ApiError

DEFAULT_MAX_PIXELS = 25_000_000
# Formats Pillow may decode (JPEG includes multi-picture MPO files from cameras). Others (EPS,
# PSD, PPM, ...) are refused without being parsed.
ALLOWED_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
# Request Content-Types accepted for a raw image body (multipart uploads are sniffed instead).
ALLOWED_CONTENT_TYPES = frozenset(
    {
        "image/jpeg",
        "image/jpg",
        "image/png",
        "image/bmp",
        "image/x-ms-bmp",
        "image/gif",
        "image/tiff",
        "image/webp",
    }
)


def decode_image(data, max_pixels=DEFAULT_MAX_PIXELS):
    """Bytes of a JPEG/PNG/BMP/GIF/TIFF/WebP file -> image: [H, W, 3] uint8 RGB.

    EXIF orientation is applied; grayscale, alpha (composited on white), palette, CMYK and
    16-bit images are converted to 8-bit RGB. Raises ApiError (400, 413 or 422).
    """
    if not data:
        raise ApiError(400, "the image is empty (0 bytes)")
    # catch_warnings is process-wide, not per thread: a concurrent request may briefly lose this
    # filter, but the explicit max_pixels check in _open_checked still applies to it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open_checked(data, max_pixels)
        try:
            image.load()
            image = ImageOps.exif_transpose(image)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ApiError(413, f"image refused as a decompression bomb: {error}") from None
        except Exception as error:  # Pillow raises many types for corrupt or truncated data
            raise ApiError(422, f"the image could not be decoded (truncated or corrupt?): {error}") from None
    return to_rgb_array(image)


def _open_checked(data, max_pixels):
    """Parse only the header, then refuse images above `max_pixels` before decoding them."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ApiError(413, f"image refused as a decompression bomb: {error}") from None
    except Exception:
        raise ApiError(422, f"the data is not an image in an allowed format ({', '.join(ALLOWED_FORMATS)})") from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ApiError(422, f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ApiError(
            413, f"the image has {width}x{height} = {width * height} pixels; the limit is {max_pixels} pixels"
        )
    return image


def to_rgb_array(image):
    """A loaded PIL image of any mode -> [H, W, 3] uint8 RGB."""
    if image.mode.startswith("I") or image.mode == "F":
        return _high_depth_to_rgb(np.asarray(image), image.mode)
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.asarray(image, dtype=np.uint8).copy()


def _high_depth_to_rgb(gray, mode):
    """gray: [H, W] of a 16-bit ("I;16*"), 32-bit int ("I") or float ("F") image -> [H, W, 3] uint8.

    16-bit data is scaled from 0..65535; "I" data only when it exceeds 255; "F" data from 0..1
    when it lies within [0, 1]. Anything else is clipped to 0..255.
    """
    gray = gray.astype(np.float64)
    peak = gray.max() if gray.size else 0.0
    if mode.startswith("I;16") or (mode == "I" and peak > 255):
        gray = gray * (255.0 / 65535.0)
    elif mode == "F" and peak <= 1.0:
        gray = gray * 255.0
    gray = np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)
