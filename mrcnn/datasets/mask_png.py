"""Instance masks stored as PNG files, as a ``Dataset``.

Layout (``<stem>`` is an image's path under ``images/`` without its extension)::

    ROOT/images/<stem>.jpg                 the images (any PIL format)
    ROOT/masks/<stem>.png (or .PNG)        either one id map per image: one integer per pixel, 0 = background,
                                           1..N = instance ids (8- or 16-bit grayscale or palette PNG) ...
    ROOT/masks/<stem>/<anything>_<class>.png   ... or one PNG per instance (nonzero = the instance); its class is the
                                           text after the last "_" of the file name (no "_": the "default" class)
    ROOT/classes.json                      optional class map {"<instance id>": "class name", "default": "name"}

In an id map, instance ``k`` has class ``classes.json[str(k)]``, else ``classes.json["default"]``; without
``classes.json`` every instance is ``object``. An id with no class (no entry and no "default") is an unknown class.
Images without a mask file, or with an all-zero mask, are negatives (but masks/ with no file matching any image is
an error, as are JPEG masks). Masks the size of the photo upright (by its EXIF orientation) go with the upright
photo. Classes come from the data in sorted order
unless ``class_names`` fixes the order.
"""

import glob
import os

import numpy as np
from PIL import Image

from mrcnn.data.errors import DatasetError
from mrcnn.datasets.checks import Problems, checked_image_size
from mrcnn.datasets.coco import read_json
from mrcnn.datasets.files import image_frame, walk_files
from mrcnn.datasets.via import PolygonDataset
from mrcnn.datasets.yolo_seg import image_files

DEFAULT_CLASS = "object"


def read_id_map(path):
    """A mask PNG as an integer array [H, W]; DatasetError if it is not an image or not single-channel."""
    try:
        with Image.open(path) as im:
            values = np.asarray(im)
    except (OSError, ValueError) as e:
        raise DatasetError(f"not a readable image ({e})") from None
    if values.ndim == 3:
        colour = values[..., :3] if values.shape[-1] >= 3 else values[..., :1]  # LA: gray + alpha
        if not (colour == colour[..., :1]).all():
            raise DatasetError("mask must be single-channel (one integer id per pixel), got a colour image")
        values = values[..., 0]
    return values.astype(np.int64)


def read_class_map(root):
    """{instance id or "default": class name} of ROOT/classes.json; {"default": "object"} if absent."""
    path = os.path.join(root, "classes.json")
    if not os.path.isfile(path):
        return {"default": DEFAULT_CLASS}
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) and v for v in data.values()):
        raise DatasetError(f"{path}: must be an object {{instance id or 'default': class name}}")
    return {str(k): v for k, v in data.items()}


def instance_class(path, class_map):
    """Class of a one-PNG-per-instance file: the text after the last '_' of its name, else the 'default' class."""
    stem = os.path.splitext(os.path.basename(path))[0]
    return stem.rsplit("_", 1)[1] if "_" in stem else class_map.get("default")


def _header_size(path):
    """(height, width) of an image file from its header, None if unreadable."""
    try:
        with Image.open(path) as im:
            return im.height, im.width
    except (OSError, ValueError, SyntaxError):
        return None


def _beside(root, stem, extensions):
    """The files ROOT/masks/<stem>.<ext> with ext in ``extensions`` (any case), sorted."""
    base = os.path.join(root, "masks", stem)
    found = glob.glob(glob.escape(base) + ".*")
    return sorted(
        p for p in found if os.path.splitext(p)[0] == base and p.lower().endswith(extensions) and os.path.isfile(p)
    )


class MaskPngDataset(PolygonDataset):
    """Instance masks from PNG files; see the module docstring for the layout."""

    def load_masks(self, root, source="masks", class_names=None, skip_bad=False):
        """Add every image under ROOT/images with its masks; bad masks raise DatasetError naming the file and
        instance, or with skip_bad go to ``self.problems`` [(file, index, message)] and are dropped."""
        root = str(root)
        self.problems = Problems(skip_bad)
        class_map = read_class_map(root)
        images = image_files(os.path.join(root, "images"))
        if not images:
            raise DatasetError(f"{root}: no images found under images/")
        entries = [e for e in (self._entry(root, p, class_map, class_names) for p in images) if e is not None]
        if entries and not any(e["mask_files"] for e in entries) and walk_files(os.path.join(root, "masks")):
            raise DatasetError(
                f"{root}: no file under masks/ is the mask of an image; name them masks/<image stem>.png "
                f"(e.g. masks/{entries[0]['stem']}.png) or masks/<image stem>/<n>_<class>.png"
            )
        ids = self.add_class_names(source, class_names or sorted({c for e in entries for c in e["classes"]}))
        for entry in entries:
            entry["mask_class_ids"] = [ids[c] for c in entry.pop("classes")]
            self.add_image(source, image_id=entry["stem"], **entry)

    def _entry(self, root, image_path, class_map, class_names):
        """image_info fields of one image and its masks, or None if the image is rejected."""
        size = checked_image_size(image_path, self.problems, image_path)
        if size is None:
            return None
        stem = os.path.splitext(os.path.relpath(image_path, os.path.join(root, "images")))[0]
        id_map = next(iter(_beside(root, stem, (".png",))), None)
        folder = glob.escape(os.path.join(root, "masks", stem))
        files = (
            [id_map]
            if id_map
            else sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(".png"))
        )
        if not files:
            lossy = _beside(root, stem, (".jpg", ".jpeg"))
            if lossy:
                self.problems.reject(lossy[0], None, "masks must be PNG: JPEG compression changes the instance ids")
                return None
        exif = False
        mask_size = _header_size(files[0]) if files else None
        if mask_size not in (None, size):
            try:  # masks of the upright photo (read with its EXIF orientation, as OpenCV and most tools do)
                *size, exif = image_frame(image_path, image_path, expected=mask_size)
            except DatasetError:
                pass  # _read_checked names the sizes
        values = [self._read_checked(p, tuple(size)) for p in files]
        if any(v is None for v in values):
            return None  # a damaged mask file: drop the image rather than keep it with instances missing
        if files == [id_map]:
            ids = [int(k) for k in np.unique(values[0]) if k > 0]
            instances = [(id_map, k, class_map.get(str(k), class_map.get("default"))) for k in ids]
        else:
            instances = [(p, None, instance_class(p, class_map)) for p in files]
        kept = []
        for file, index, cls in instances:
            if cls is None or (class_names is not None and cls not in class_names):
                self.problems.reject(file, index, f"unknown class {cls!r} (see classes.json / class_names)", "instance")
            else:
                kept.append((file, index, cls))
        return dict(
            stem=stem,
            path=image_path,
            height=size[0],
            width=size[1],
            mask_files=[f for f, _, _ in kept],
            mask_values=[v for _, v, _ in kept],
            classes=[c for _, _, c in kept],
            **({"exif": True} if exif else {}),
        )

    def _read_checked(self, path, size):
        """The id map of ``path``, or None after rejecting it (not an image, colour, or not the image's size)."""
        try:
            values = read_id_map(path)
        except DatasetError as e:
            self.problems.reject(path, None, str(e))
            return None
        if values.shape != tuple(size):
            self.problems.reject(
                path, None, f"mask is {values.shape[1]}x{values.shape[0]} but its image is {size[1]}x{size[0]}"
            )
            return None
        return values

    def load_mask(self, image_id):
        """masks: [H, W, N] bool, one per non-empty instance; class_ids: [N] int32."""
        info = self.image_info[image_id]
        if "mask_files" not in info:
            return super().load_mask(image_id)
        masks, class_ids = [], []
        for path, value, class_id in zip(info["mask_files"], info["mask_values"], info["mask_class_ids"]):
            values = read_id_map(path)
            mask = values > 0 if value is None else values == value
            if mask.any():  # an all-zero instance PNG has no instance
                masks.append(mask)
                class_ids.append(class_id)
        if not masks:
            return np.zeros((info["height"], info["width"], 0), bool), np.zeros((0,), np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)
