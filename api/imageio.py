"""Decode untrusted image bytes to an RGB uint8 array, with size limits checked before decoding.

Status codes raised (as ApiError): 400 empty input, 413 too many pixels (read from the header,
before any pixel is decoded), 422 bytes that are not a decodable image of an allowed format
(unknown format, truncated or corrupt file).
"""

import warnings

from PIL import Image

from mrcnn.data.images import open_image, pil_to_rgb

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

    Decoded by mrcnn.data.images (the library's one decoder and its policy: EXIF orientation
    applied, alpha composited on white, palette, CMYK, 16-bit and gray to 8-bit RGB), after this
    module's limits. Raises ApiError (400, 413 or 422).
    """
    if not data:
        raise ApiError(400, "the image is empty (0 bytes)")
    # catch_warnings is process-wide, not per thread: a concurrent request may briefly lose this
    # filter, but the explicit max_pixels check in _open_checked still applies to it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = _open_checked(data, max_pixels)
        try:
            return pil_to_rgb(image, exif=True)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise ApiError(413, f"image refused as a decompression bomb: {error}") from None
        except Exception as error:  # Pillow raises many types for corrupt or truncated data
            raise ApiError(422, f"the image could not be decoded (truncated or corrupt?): {error}") from None


def _open_checked(data, max_pixels):
    """Parse only the header, then refuse images above `max_pixels` before decoding them."""
    try:
        image = open_image(data, formats=ALLOWED_FORMATS)
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
