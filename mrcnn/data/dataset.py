"""matterport's Dataset API: classes, images and their sources; subclass it for your data."""

import warnings

import numpy as np

from mrcnn.data.errors import DatasetError
from mrcnn.data.images import DECODE_ERRORS, decode_image, image_size


def image_label(dataset, image_id):
    """How a message names an image: its image_reference, else its path, else its id."""
    return str(dataset.image_reference(image_id) or dataset.image_info[image_id].get("path") or image_id)


class Dataset:
    """Base class for datasets, matterport-compatible.

    Subclass it, call ``add_class`` / ``add_image`` in a loader method, override ``load_mask``
    (and ``image_reference`` if useful), then call ``prepare()`` before use. Internal class ids are
    contiguous, with 0 = "BG" (background) added automatically. ``class_map`` is accepted for
    compatibility and ignored, as in matterport.
    """

    def __init__(self, class_map=None):
        self._image_ids = []
        self.image_info = []
        self.class_info = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids = {}
        self._prepared = False

    # -- building -----------------------------------------------------------------------------
    def add_class(self, source, class_id, class_name):
        """Register class ``class_id`` of dataset ``source`` (source names may not contain '.')."""
        if "." in str(source):
            raise DatasetError(f"add_class: source name {source!r} contains '.'; use a name without dots")
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                if info["name"] != class_name:
                    raise DatasetError(
                        f"add_class: class {source}.{class_id} already added as {info['name']!r}, "
                        f"now named {class_name!r}; use one name per class id"
                    )
                return
        self.class_info.append({"source": source, "id": class_id, "name": class_name})
        self._prepared = False

    def add_image(self, source, image_id, path, **kwargs):
        """Register an image. Extra keyword arguments (e.g. width, height, polygons) are stored in its info."""
        info = {"id": image_id, "source": source, "path": path}
        info.update(kwargs)
        self.image_info.append(info)
        self._prepared = False

    def image_reference(self, image_id):
        """A string that helps find the image, e.g. a URL: "" here, as in matterport (override it).

        mrcnn's own messages name an image by `image_label`, which falls back to its path.
        """
        return ""

    def prepare(self, class_map=None):
        """Build the derived tables (ids, names, source maps). Call after adding classes and images."""
        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [str(c["name"]).split(",")[0] for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {f"{c['source']}.{c['id']}": i for i, c in enumerate(self.class_info)}
        self.image_from_source_map = {f"{info['source']}.{info['id']}": i for i, info in enumerate(self.image_info)}
        self.sources = sorted({c["source"] for c in self.class_info})
        self.source_class_ids = {
            source: [i for i, c in enumerate(self.class_info) if i == 0 or c["source"] == source]
            for source in self.sources
        }
        self._prepared = True

    _PREPARED_ATTRS = (
        "num_classes",
        "class_ids",
        "class_names",
        "num_images",
        "class_from_source_map",
        "image_from_source_map",
        "sources",
    )

    def __getattr__(self, name):
        # Only called for missing attributes: explain the usual cause instead of a bare AttributeError.
        if name in Dataset._PREPARED_ATTRS:
            raise AttributeError(
                f"Dataset.{name} is set by prepare(); call dataset.prepare() after adding classes and images"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- lookups ------------------------------------------------------------------------------
    @property
    def image_ids(self):
        """Internal image ids: int array [num_images] (0..num_images-1)."""
        self._require_prepared("image_ids")
        return self._image_ids

    def map_source_class_id(self, source_class_id):
        """'source.class_id' string (e.g. 'coco.12') -> internal class id."""
        self._require_prepared("map_source_class_id")
        try:
            return self.class_from_source_map[source_class_id]
        except KeyError:
            raise DatasetError(
                f"unknown source class {source_class_id!r}; known: "
                f"{sorted(self.class_from_source_map)[:20]} (format is 'source.class_id')"
            ) from None

    def get_source_class_id(self, class_id, source):
        """Internal class id -> the class id used by ``source``."""
        if not 0 <= class_id < len(self.class_info):
            raise DatasetError(f"class id {class_id} out of range 0..{len(self.class_info) - 1}")
        info = self.class_info[class_id]
        if info["source"] != source:
            raise DatasetError(
                f"class id {class_id} ({info['name']!r}) belongs to source {info['source']!r}, not {source!r}"
            )
        return info["id"]

    def source_image_link(self, image_id):
        """Path (or URL) of the image file, as given to add_image."""
        return self._info(image_id)["path"]

    # -- loading ------------------------------------------------------------------------------
    def load_image(self, image_id):
        """Load an image as RGB uint8 [H, W, 3].

        Decoded by mrcnn.data.images.decode_image (the decoder of utils.read_image and the API):
        grayscale is repeated to 3 channels, alpha is composited on white, 16-bit data is scaled to
        8 bits (v * 255 / 65535, rounded). EXIF orientation is deliberately IGNORED: pixels are returned in
        the file's raw grid, as matterport (skimage.io.imread) did, because VIA polygon annotations
        are drawn in that raw grid (no balloon image carries an orientation tag other than 1). A loader whose
        annotations are drawn on the upright image sets ``image_info[i]["exif"] = True`` (mrcnn.datasets.files).
        A missing or undecodable file raises DatasetError naming the path.
        """
        info = self._info(image_id)
        path = info["path"]
        where = f"image {image_id} (source {info['source']!r}, id {info['id']!r})"
        try:
            return decode_image(path, exif=bool(info.get("exif", False)))
        except FileNotFoundError:
            raise DatasetError(f"{where}: file not found: {path}; fix the path given to add_image") from None
        except DECODE_ERRORS as err:
            raise DatasetError(
                f"{where}: cannot decode {path} ({err}); the file is corrupt or not an image, replace or remove it"
            ) from None

    def load_mask(self, image_id):
        """Instance masks [H, W, N] bool and class ids [N] int32. Override in a subclass.

        The default warns and returns an empty mask [H, W, 0] (H, W from the image info or the
        file header, 0 if unknown) and empty class ids, as matterport does.
        """
        warnings.warn(
            "Dataset.load_mask() is the default and returns no instances; override load_mask in your Dataset subclass",
            stacklevel=2,
        )
        height, width = self._image_size(image_id)
        return np.zeros([height, width, 0], dtype=bool), np.zeros([0], dtype=np.int32)

    # -- internals ----------------------------------------------------------------------------
    def _info(self, image_id):
        if not 0 <= int(image_id) < len(self.image_info):
            raise DatasetError(f"image id {image_id} out of range: dataset has {len(self.image_info)} images")
        return self.image_info[int(image_id)]

    def _image_size(self, image_id):
        info = self._info(image_id)
        if "height" in info and "width" in info:
            return int(info["height"]), int(info["width"])
        try:
            return image_size(info["path"])
        except (OSError, ValueError, TypeError):
            return 0, 0

    def _require_prepared(self, what):
        if not self._prepared:
            raise DatasetError(f"{what}: dataset not prepared; call dataset.prepare() after adding classes and images")
