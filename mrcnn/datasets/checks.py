"""Checks shared by the loaders of ``load_dataset``: rejected annotations raise or are collected (``skip_bad``)."""

import numpy as np

from mrcnn.data.errors import DatasetError
from mrcnn.datasets.files import image_frame, image_size

# A vertex may lie this many pixels outside the image (annotation tools let points land on or just past the border).
BORDER_TOLERANCE = 1.0


class Problems(list):
    """Rejected annotations ``[(file, index, message)]``; ``reject`` raises DatasetError unless ``skip_bad``."""

    def __init__(self, skip_bad=False):
        super().__init__()
        self.skip_bad = skip_bad

    def reject(self, file, index, message, unit="annotation"):
        """Record (or raise) one problem; index None means the whole file (e.g. its image) is rejected."""
        where = f"{file}" if index is None else f"{file}: {unit} {index}"
        if not self.skip_bad:
            raise DatasetError(f"{where}: {message}; fix it or pass skip_bad=True to drop it")
        self.append((str(file), index, message))


def polygon_problem(xs, ys, height, width):
    """Why the polygon (pixel vertices) is unusable, or None: under 3 points, non-finite, or outside the image."""
    xs, ys = np.asarray(xs, np.float64), np.asarray(ys, np.float64)
    if len(xs) < 3 or len(xs) != len(ys):
        return f"polygon needs at least 3 points, got {min(len(xs), len(ys))}"
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return "coordinates must be finite numbers (found NaN or Infinity)"
    t = BORDER_TOLERANCE
    if xs.min() < -t or ys.min() < -t or xs.max() > width + t or ys.max() > height + t:
        return (
            f"polygon reaches outside the {width}x{height} image "
            f"(x {xs.min():.1f}..{xs.max():.1f}, y {ys.min():.1f}..{ys.max():.1f})"
        )
    return None


def checked_image_size(path, problems, file):
    """(height, width) of the image at ``path``, or None after rejecting ``file`` (missing or not an image)."""
    return _read_or_reject(problems, file, image_size, path, str(file))


def checked_frame(path, problems, file, expected=None, upright=False):
    """(height, width, exif) of ``files.image_frame``, or None after rejecting ``file`` (missing, not an image, or
    not the size ``expected``)."""
    return _read_or_reject(problems, file, image_frame, path, str(file), expected=expected, upright=upright)


def _read_or_reject(problems, file, read, *args, **kwargs):
    """``read(*args, **kwargs)``, or None after rejecting ``file`` with the DatasetError it raised."""
    try:
        return read(*args, **kwargs)
    except DatasetError as e:
        problems.reject(file, None, str(e).removeprefix(f"{file}: "))
        return None
