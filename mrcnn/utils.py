"""NumPy helpers with matterport's names and meanings: Dataset, resizing, masks, boxes, evaluation.

Box convention everywhere: ``boxes: [N, (y1, x1, y2, x2)]`` in pixels, with y2/x2 EXCLUSIVE
(a mask whose rows 3..5 are set has y1=3, y2=6). Box area is (y2 - y1) * (x2 - x1).
Masks are ``[H, W, N]`` bool, one channel per instance.
"""
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError


class DatasetError(ValueError):
    """Bad dataset input: the message names the image or file and what to fix."""


# ----------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------

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
                        f"now named {class_name!r}; use one name per class id")
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
        """Return a string that helps find the image (here: its path). Override to return e.g. a URL."""
        return str(self._info(image_id)["path"])

    def prepare(self, class_map=None):
        """Build the derived tables (ids, names, source maps). Call after adding classes and images."""
        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [str(c["name"]).split(",")[0] for c in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)
        self.class_from_source_map = {
            f"{c['source']}.{c['id']}": i for i, c in enumerate(self.class_info)}
        self.image_from_source_map = {
            f"{info['source']}.{info['id']}": i for i, info in enumerate(self.image_info)}
        self.sources = sorted({c["source"] for c in self.class_info})
        self.source_class_ids = {
            source: [i for i, c in enumerate(self.class_info) if i == 0 or c["source"] == source]
            for source in self.sources}
        self._prepared = True

    _PREPARED_ATTRS = ("num_classes", "class_ids", "class_names", "num_images", "class_from_source_map",
                       "image_from_source_map", "sources")

    def __getattr__(self, name):
        # Only called for missing attributes: explain the usual cause instead of a bare AttributeError.
        if name in Dataset._PREPARED_ATTRS:
            raise AttributeError(f"Dataset.{name} is set by prepare(); call dataset.prepare() after adding "
                                 f"classes and images")
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
                f"{sorted(self.class_from_source_map)[:20]} (format is 'source.class_id')") from None

    def get_source_class_id(self, class_id, source):
        """Internal class id -> the class id used by ``source``."""
        if not 0 <= class_id < len(self.class_info):
            raise DatasetError(f"class id {class_id} out of range 0..{len(self.class_info) - 1}")
        info = self.class_info[class_id]
        if info["source"] != source:
            raise DatasetError(
                f"class id {class_id} ({info['name']!r}) belongs to source {info['source']!r}, not {source!r}")
        return info["id"]

    def source_image_link(self, image_id):
        """Path (or URL) of the image file, as given to add_image."""
        return self._info(image_id)["path"]

    # -- loading ------------------------------------------------------------------------------
    def load_image(self, image_id):
        """Load an image as RGB uint8 [H, W, 3].

        Grayscale is repeated to 3 channels, alpha is dropped, 16-bit data is scaled to 8 bits
        (v * 255 / 65535, rounded). EXIF orientation is deliberately IGNORED: pixels are returned in
        the file's raw grid, as matterport (skimage.io.imread) did, because VIA polygon annotations
        are drawn in that raw grid (no balloon image carries an orientation tag other than 1).
        A missing or undecodable file raises DatasetError naming the path.
        """
        info = self._info(image_id)
        path = info["path"]
        where = f"image {image_id} (source {info['source']!r}, id {info['id']!r})"
        try:
            return _read_rgb(path)
        except FileNotFoundError:
            raise DatasetError(f"{where}: file not found: {path}; fix the path given to add_image") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
            raise DatasetError(
                f"{where}: cannot decode {path} ({err}); the file is corrupt or not an image, "
                f"replace or remove it") from None

    def load_mask(self, image_id):
        """Instance masks [H, W, N] bool and class ids [N] int32. Override in a subclass.

        The default warns and returns an empty mask [H, W, 0] (H, W from the image info or the
        file header, 0 if unknown) and empty class ids, as matterport does.
        """
        warnings.warn("Dataset.load_mask() is the default and returns no instances; "
                      "override load_mask in your Dataset subclass", stacklevel=2)
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
            with Image.open(info["path"]) as im:
                return im.height, im.width
        except (OSError, ValueError, TypeError):
            return 0, 0

    def _require_prepared(self, what):
        if not self._prepared:
            raise DatasetError(f"{what}: dataset not prepared; call dataset.prepare() after adding "
                               f"classes and images")


# ----------------------------------------------------------------------------------------------
# Resizing
# ----------------------------------------------------------------------------------------------

_RESIZE_MODES = ("none", "square", "pad64", "crop")


def _scaled_size(height, width, scale):
    """Output (height, width) for a resize by ``scale``; shared by resize_image and resize_mask."""
    return max(1, int(round(height * scale))), max(1, int(round(width * scale)))


def resize(image, output_shape):
    """Bilinear resize of image [H, W] or [H, W, C] to output_shape (h, w); dtype is preserved."""
    out_h, out_w = int(output_shape[0]), int(output_shape[1])
    if image.shape[:2] == (out_h, out_w):
        return image.copy()
    if image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] in (3, 4):
        mode = "RGB" if image.shape[2] == 3 else "RGBA"
        return np.asarray(Image.fromarray(image, mode).resize((out_w, out_h), Image.BILINEAR))
    if image.dtype == np.uint8 and image.ndim == 2:
        return np.asarray(Image.fromarray(image, "L").resize((out_w, out_h), Image.BILINEAR))
    planes = image[:, :, None] if image.ndim == 2 else image
    out = np.empty((out_h, out_w, planes.shape[2]), dtype=np.float32)
    for c in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, c], dtype=np.float32), "F")
        out[:, :, c] = np.asarray(plane.resize((out_w, out_h), Image.BILINEAR))
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(image.dtype)
    return out[:, :, 0] if image.ndim == 2 else out


def _compute_scale(height, width, min_dim, max_dim, min_scale, mode):
    scale = max(1.0, min_dim / min(height, width)) if min_dim else 1.0
    if min_scale and scale < min_scale:
        scale = float(min_scale)
    if max_dim and mode == "square" and round(max(height, width) * scale) > max_dim:
        scale = max_dim / max(height, width)
    return scale


def _centre_pad(size, target):
    before = (target - size) // 2
    return before, target - size - before


def _check_resize_args(image, min_dim, max_dim, mode):
    if mode not in _RESIZE_MODES:
        raise ValueError(f"resize_image: mode must be one of {_RESIZE_MODES}, got {mode!r}")
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        shape = getattr(image, "shape", type(image).__name__)
        raise ValueError(f"resize_image: image must be a non-empty [H, W] or [H, W, C] array, got {shape}")
    if mode == "square" and not max_dim:
        raise ValueError("resize_image: mode 'square' needs max_dim (e.g. IMAGE_MAX_DIM=1024)")
    if mode == "crop" and not min_dim:
        raise ValueError("resize_image: mode 'crop' needs min_dim (the crop size)")
    if mode == "pad64" and min_dim and min_dim % 64:
        raise ValueError(f"resize_image: mode 'pad64' needs min_dim divisible by 64, got {min_dim}")


def resize_image(image, min_dim=None, max_dim=None, min_scale=None, mode="square", rng=None):
    """Resize (PIL bilinear) and pad or crop an image, keeping its aspect ratio; dtype is kept.

    Modes (as matterport):
      - "none": unchanged.
      - "square": scale up so the short side is >= min_dim (never down for min_dim), but the long
        side <= max_dim; then zero-pad (centred) to [max_dim, max_dim].
      - "pad64": scale by min_dim / min_scale rules, then zero-pad (centred) so both sides are multiples of 64.
      - "crop": scale up so the short side is >= min_dim, then take a random [min_dim, min_dim] crop
        (``rng``: optional np.random.Generator; default uses the global np.random state).
    image: [H, W, C] (or [H, W]).
    Returns (image, window, scale, padding, crop):
      window: (y1, x1, y2, x2) of the resized image inside the output (y2/x2 exclusive);
      scale: float factor applied to the original image;
      padding: [(top, bottom), (left, right), (0, 0)];
      crop: (y, x, h, w) of the crop in the resized image, or None.
    """
    _check_resize_args(image, min_dim, max_dim, mode)
    height, width = image.shape[:2]
    no_pad = [(0, 0), (0, 0), (0, 0)]
    if mode == "none":
        return image, (0, 0, height, width), 1.0, no_pad, None
    scale = _compute_scale(height, width, min_dim, max_dim, min_scale, mode)
    if scale != 1:
        image = resize(image, _scaled_size(height, width, scale))
    h, w = image.shape[:2]
    if mode == "crop":
        y, x = _random_offsets(h - min_dim, w - min_dim, rng)
        image = image[y:y + min_dim, x:x + min_dim]
        return image, (0, 0, min_dim, min_dim), scale, no_pad, (y, x, min_dim, min_dim)
    if mode == "square":
        (top, bottom), (left, right) = _centre_pad(h, max_dim), _centre_pad(w, max_dim)
    else:  # pad64
        (top, bottom), (left, right) = _centre_pad(h, -(-h // 64) * 64), _centre_pad(w, -(-w // 64) * 64)
    padding = [(top, bottom), (left, right), (0, 0)]
    image = np.pad(image, padding[:image.ndim], mode="constant")
    return image, (top, left, top + h, left + w), scale, padding, None


def _random_offsets(max_y, max_x, rng):
    if rng is None:
        return int(np.random.randint(0, max_y + 1)), int(np.random.randint(0, max_x + 1))
    return int(rng.integers(0, max_y + 1)), int(rng.integers(0, max_x + 1))


def _nearest_indices(size, out_size):
    """Source index of each output pixel for a nearest-neighbour resize of ``size`` -> ``out_size``."""
    idx = ((np.arange(out_size) + 0.5) * (size / out_size)).astype(np.int64)
    return np.minimum(idx, size - 1)


def resize_mask(mask, scale, padding, crop=None):
    """Resize masks like resize_image did the image (nearest neighbour), then crop or pad.

    mask: [H, W, N] bool. scale, padding, crop: as returned by resize_image.
    Returns [H', W', N] bool with the same H', W' as resize_image's output image.
    """
    mask = np.asarray(mask)
    if mask.ndim != 3:
        raise ValueError(f"resize_mask: mask must be [H, W, N], got shape {mask.shape}")
    height, width = mask.shape[:2]
    out_h, out_w = _scaled_size(height, width, scale) if scale != 1 else (height, width)
    rows, cols = _nearest_indices(height, out_h), _nearest_indices(width, out_w)
    mask = mask.take(rows, axis=0).take(cols, axis=1).astype(bool, copy=False)
    if crop is not None:
        y, x, h, w = crop
        return mask[y:y + h, x:x + w]
    return np.pad(mask, [tuple(p) for p in padding[:2]] + [(0, 0)], mode="constant")


# ----------------------------------------------------------------------------------------------
# Mini masks
# ----------------------------------------------------------------------------------------------

def _bilinear_crops(mask, bbox, out_h, out_w):
    """Bilinear samples of each instance's box, vectorised over instances.

    mask: [H, W, N] bool; bbox: [N, (y1, x1, y2, x2)] pixels. Returns float32 [N, out_h, out_w].
    """
    y1, x1, y2, x2 = (bbox[:, i].astype(np.float64)[:, None] for i in range(4))
    ys = y1 + (np.arange(out_h) + 0.5) * (y2 - y1) / out_h - 0.5  # [N, out_h]
    xs = x1 + (np.arange(out_w) + 0.5) * (x2 - x1) / out_w - 0.5  # [N, out_w]
    ys = np.clip(ys, y1, np.maximum(y2 - 1, y1))
    xs = np.clip(xs, x1, np.maximum(x2 - 1, x1))
    y0, x0 = np.floor(ys).astype(np.int64), np.floor(xs).astype(np.int64)
    y1i = np.minimum(y0 + 1, np.maximum(y2.astype(np.int64) - 1, y0))
    x1i = np.minimum(x0 + 1, np.maximum(x2.astype(np.int64) - 1, x0))
    wy, wx = (ys - y0)[:, :, None], (xs - x0)[:, None, :]
    n = np.arange(mask.shape[2])[:, None, None]

    def pick(yy, xx):
        return mask[yy[:, :, None], xx[:, None, :], n].astype(np.float32)

    top = pick(y0, x0) * (1 - wx) + pick(y0, x1i) * wx
    bottom = pick(y1i, x0) * (1 - wx) + pick(y1i, x1i) * wx
    return top * (1 - wy) + bottom * wy


def minimize_mask(bbox, mask, mini_shape):
    """Crop each instance mask to its box and resize it to mini_shape (bilinear, threshold 0.5).

    bbox: [N, (y1, x1, y2, x2)] pixels; mask: [H, W, N] bool; mini_shape: (h, w).
    Returns [h, w, N] bool. An instance with an empty (zero-area) box gives an all-False mini mask.
    """
    mask = np.asarray(mask, dtype=bool)
    bbox = np.asarray(bbox, dtype=np.int64).reshape(-1, 4)
    if bbox.shape[0] != mask.shape[-1]:
        raise ValueError(f"minimize_mask: {bbox.shape[0]} boxes but {mask.shape[-1]} masks")
    h, w = int(mini_shape[0]), int(mini_shape[1])
    if bbox.shape[0] == 0:
        return np.zeros((h, w, 0), dtype=bool)
    bbox = _clip_boxes(bbox, mask.shape[:2])
    mini = _bilinear_crops(mask, bbox, h, w) >= 0.5
    empty = (bbox[:, 2] <= bbox[:, 0]) | (bbox[:, 3] <= bbox[:, 1])
    mini[empty] = False
    return np.transpose(mini, (1, 2, 0))


def _clip_boxes(boxes, shape):
    limits = np.array([shape[0], shape[1], shape[0], shape[1]])
    return np.clip(boxes, 0, limits)


def _paste(full, soft_mask, box):
    """Resize soft_mask [h, w] float to the box, threshold at 0.5 and paste into full [H, W] bool."""
    y1, x1, y2, x2 = (int(v) for v in box)
    if y2 <= y1 or x2 <= x1:
        return full
    plane = Image.fromarray(np.ascontiguousarray(soft_mask, dtype=np.float32), "F")
    resized = np.asarray(plane.resize((x2 - x1, y2 - y1), Image.BILINEAR)) >= 0.5
    cy1, cx1 = max(y1, 0), max(x1, 0)
    cy2, cx2 = min(y2, full.shape[0]), min(x2, full.shape[1])
    if cy2 > cy1 and cx2 > cx1:
        full[cy1:cy2, cx1:cx2] = resized[cy1 - y1:cy2 - y1, cx1 - x1:cx2 - x1]
    return full


def expand_mask(bbox, mini_mask, image_shape):
    """Inverse of minimize_mask: paste mini masks back at their boxes.

    bbox: [N, (y1, x1, y2, x2)] pixels; mini_mask: [h, w, N] bool; image_shape: (H, W, ...).
    Returns [H, W, N] bool.
    """
    bbox = np.asarray(bbox).reshape(-1, 4)
    if bbox.shape[0] != mini_mask.shape[-1]:
        raise ValueError(f"expand_mask: {bbox.shape[0]} boxes but {mini_mask.shape[-1]} mini masks")
    out = np.zeros(tuple(image_shape[:2]) + (bbox.shape[0],), dtype=bool)
    for i in range(bbox.shape[0]):
        plane = np.zeros(image_shape[:2], dtype=bool)
        out[:, :, i] = _paste(plane, mini_mask[:, :, i], bbox[i])
    return out


def unmold_mask(mask, bbox, image_shape):
    """Full-size mask from a network mask: resize mask [h, w] float (0..1) into bbox, threshold 0.5.

    bbox: (y1, x1, y2, x2) pixels; image_shape: (H, W, ...). Returns [H, W] bool.
    """
    full = np.zeros(tuple(image_shape[:2]), dtype=bool)
    return _paste(full, np.asarray(mask), bbox)


# ----------------------------------------------------------------------------------------------
# Boxes
# ----------------------------------------------------------------------------------------------

def extract_bboxes(mask):
    """Tight boxes around masks. mask: [H, W, N] bool -> int32 [N, (y1, x1, y2, x2)], y2/x2 exclusive.

    An empty mask gives the all-zero box (0, 0, 0, 0).
    """
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 3:
        raise ValueError(f"extract_bboxes: mask must be [H, W, N], got shape {mask.shape}")
    height, width = mask.shape[:2]
    rows, cols = mask.any(axis=1), mask.any(axis=0)  # [H, N], [W, N]
    y1, x1 = rows.argmax(axis=0), cols.argmax(axis=0)
    y2, x2 = height - rows[::-1].argmax(axis=0), width - cols[::-1].argmax(axis=0)
    boxes = np.stack([y1, x1, y2, x2], axis=1).astype(np.int32)
    boxes[~rows.any(axis=0)] = 0
    return boxes


def _areas(boxes):
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def compute_iou(box, boxes, box_area=None, boxes_area=None):
    """IoU of one box (y1, x1, y2, x2) with boxes [N, 4]. Areas may be passed precomputed. -> [N] float."""
    box = np.asarray(box, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    box_area = _areas(box) if box_area is None else box_area
    boxes_area = _areas(boxes) if boxes_area is None else np.asarray(boxes_area)
    inter_h = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0)
    inter_w = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0)
    inter = inter_h * inter_w
    union = box_area + boxes_area - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def compute_overlaps(boxes1, boxes2):
    """Pairwise box IoU. boxes1: [N1, 4], boxes2: [N2, 4] -> [N1, N2] float."""
    a = np.asarray(boxes1, dtype=np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes2, dtype=np.float64).reshape(1, -1, 4)
    inter_h = np.maximum(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0)
    inter_w = np.maximum(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0)
    inter = inter_h * inter_w
    union = _areas(a) + _areas(b) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def compute_overlaps_masks(masks1, masks2):
    """Pairwise mask IoU. masks1: [H, W, N1], masks2: [H, W, N2] (bool or >0.5) -> [N1, N2] float32."""
    masks1, masks2 = np.asarray(masks1), np.asarray(masks2)
    n1, n2 = masks1.shape[-1], masks2.shape[-1]
    if n1 == 0 or n2 == 0:
        return np.zeros((n1, n2), dtype=np.float32)
    if masks1.shape[:2] != masks2.shape[:2]:
        raise ValueError(f"compute_overlaps_masks: mask sizes differ: {masks1.shape[:2]} vs {masks2.shape[:2]}")
    flat1 = (masks1.reshape(-1, n1) > 0.5).astype(np.float32)
    flat2 = (masks2.reshape(-1, n2) > 0.5).astype(np.float32)
    inter = flat1.T @ flat2
    union = flat1.sum(axis=0)[:, None] + flat2.sum(axis=0)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def non_max_suppression(boxes, scores, threshold):
    """Greedy NMS. boxes: [N, 4] pixels, scores: [N]. Returns int32 indices of kept boxes, best first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    areas = _areas(boxes)
    keep = []
    while order.size:
        best, order = order[0], order[1:]
        keep.append(best)
        iou = compute_iou(boxes[best], boxes[order], areas[best], areas[order])
        order = order[iou <= threshold]
    return np.array(keep, dtype=np.int32)


def _centres(boxes):
    heights = boxes[:, 2] - boxes[:, 0]
    widths = boxes[:, 3] - boxes[:, 1]
    return boxes[:, 0] + 0.5 * heights, boxes[:, 1] + 0.5 * widths, heights, widths


def box_refinement(box, gt_box):
    """Deltas that turn box into gt_box. box, gt_box: [N, (y1, x1, y2, x2)] -> [N, (dy, dx, log dh, log dw)].

    dy, dx are centre shifts in units of the box height/width; dh, dw are log size ratios.
    """
    cy, cx, h, w = _centres(np.asarray(box, dtype=np.float32).reshape(-1, 4))
    gy, gx, gh, gw = _centres(np.asarray(gt_box, dtype=np.float32).reshape(-1, 4))
    return np.stack([(gy - cy) / h, (gx - cx) / w, np.log(gh / h), np.log(gw / w)], axis=1)


def apply_box_deltas(boxes, deltas):
    """Apply [N, (dy, dx, log dh, log dw)] to boxes [N, (y1, x1, y2, x2)]; inverse of box_refinement."""
    cy, cx, h, w = _centres(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    deltas = np.asarray(deltas, dtype=np.float32).reshape(-1, 4)
    cy, cx = cy + deltas[:, 0] * h, cx + deltas[:, 1] * w
    h, w = h * np.exp(deltas[:, 2]), w * np.exp(deltas[:, 3])
    return np.stack([cy - 0.5 * h, cx - 0.5 * w, cy + 0.5 * h, cx + 0.5 * w], axis=1)


def trim_zeros(x):
    """Drop all-zero rows (padding). x: [N, C] -> [M, C]."""
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"trim_zeros: expected a 2-D array, got shape {x.shape}")
    return x[~np.all(x == 0, axis=1)]


def norm_boxes(boxes, shape):
    """Pixel boxes -> normalised: boxes / (H, W, H, W). shape: (H, W). Returns float32 [N, 4].

    Our convention has NO -1 shift (matterport divides by (H-1, W-1) and shifts y2/x2 by 1):
    with exclusive pixel y2/x2, the full image is exactly (0, 0, 1, 1).
    """
    height, width = shape[:2]
    return np.asarray(boxes, dtype=np.float32) / np.array([height, width, height, width], dtype=np.float32)


def denorm_boxes(boxes, shape):
    """Normalised boxes -> int32 pixel boxes: round(boxes * (H, W, H, W)). Inverse of norm_boxes (no -1 shift)."""
    height, width = shape[:2]
    scale = np.array([height, width, height, width], dtype=np.float32)
    return np.around(np.asarray(boxes, dtype=np.float32) * scale).astype(np.int32)


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------

def _drop_padding(boxes, class_ids, masks, scores=None):
    """Remove all-zero (padded) box rows and the matching ids, masks and scores."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    keep = ~np.all(boxes == 0, axis=1)
    masks = np.asarray(masks)
    kept = [boxes[keep], np.asarray(class_ids).reshape(-1)[keep], masks[..., keep]]
    if scores is not None:
        kept.append(np.asarray(scores, dtype=np.float64).reshape(-1)[keep])
    return kept


def _check_counts(name, boxes, class_ids, masks, scores=None):
    counts = {"boxes": len(np.asarray(boxes).reshape(-1, 4)), "class_ids": np.size(class_ids),
              "masks": np.shape(masks)[-1]}
    if scores is not None:
        counts["scores"] = np.size(scores)
    if len(set(counts.values())) > 1:
        raise ValueError(f"compute_matches: {name} instance counts disagree: {counts}")


def compute_matches(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores,
                    pred_masks, iou_threshold=0.5, score_threshold=0.0):
    """Greedily match predictions (highest score first) to ground truth by mask IoU and class.

    gt_boxes/pred_boxes: [N, 4] pixels (all-zero rows are padding and are dropped with their
    masks/ids); gt_masks/pred_masks: [H, W, N] bool; *_class_ids: [N]; pred_scores: [N].
    Predictions with score < score_threshold are ignored (matterport applied this number to
    IoUs instead; with the default 0.0 both are no-ops).
    Returns:
      gt_match: [num_gt] index of the matched prediction (in sorted order) or -1;
      pred_match: [num_pred] index of the matched ground truth or -1, predictions sorted by
        descending score;
      overlaps: [num_pred, num_gt] mask IoUs, predictions in the same sorted order.
    """
    _check_counts("ground truth", gt_boxes, gt_class_ids, gt_masks)
    _check_counts("prediction", pred_boxes, pred_class_ids, pred_masks, pred_scores)
    gt_boxes, gt_class_ids, gt_masks = _drop_padding(gt_boxes, gt_class_ids, gt_masks)
    pred_boxes, pred_class_ids, pred_masks, pred_scores = _drop_padding(
        pred_boxes, pred_class_ids, pred_masks, pred_scores)
    order = np.argsort(-pred_scores, kind="stable")
    order = order[pred_scores[order] >= score_threshold]
    pred_class_ids, pred_masks = pred_class_ids[order], pred_masks[..., order]
    overlaps = compute_overlaps_masks(pred_masks, gt_masks)
    gt_match = -np.ones(len(gt_class_ids))
    pred_match = -np.ones(len(order))
    for i in range(len(order)):
        for j in np.argsort(-overlaps[i], kind="stable"):
            if overlaps[i, j] < iou_threshold:
                break
            if gt_match[j] == -1 and pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j], pred_match[i] = i, j
                break
    return gt_match, pred_match, overlaps


def _interpolated_ap(pred_match, num_gt):
    """All-point interpolated AP (VOC 2010+) from the sorted match list."""
    hits = np.cumsum(pred_match > -1)
    precisions = hits / (np.arange(len(pred_match)) + 1)
    recalls = hits / num_gt
    precisions = np.concatenate([[0.0], precisions, [0.0]])
    recalls = np.concatenate([[0.0], recalls, [1.0]])
    precisions = np.maximum.accumulate(precisions[::-1])[::-1]
    steps = np.where(recalls[1:] != recalls[:-1])[0] + 1
    ap = float(np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps]))
    return ap, precisions, recalls


def compute_ap(gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks,
               iou_threshold=0.5):
    """Average precision of one image at one mask-IoU threshold (all-point interpolated, VOC style).

    Inputs as compute_matches. Returns (mAP, precisions, recalls, overlaps); precisions/recalls
    are the padded, monotone curve ([0, ...] and [..., 1]).
    Edge cases: no ground truth and no predictions -> 1.0 (nothing to find, nothing wrong);
    no ground truth but predictions -> 0.0; ground truth but no predictions -> 0.0.
    """
    gt_match, pred_match, overlaps = compute_matches(
        gt_boxes, gt_class_ids, gt_masks, pred_boxes, pred_class_ids, pred_scores, pred_masks,
        iou_threshold)
    if len(gt_match) == 0:
        ap = 1.0 if len(pred_match) == 0 else 0.0
        return ap, np.array([ap, ap]), np.array([0.0, 1.0]), overlaps
    ap, precisions, recalls = _interpolated_ap(pred_match, len(gt_match))
    return ap, precisions, recalls, overlaps


def compute_ap_range(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                     iou_thresholds=None, verbose=1):
    """Mean of compute_ap over IoU thresholds (default 0.50:0.05:0.95, COCO style). Returns a float."""
    if iou_thresholds is None:
        iou_thresholds = np.arange(0.5, 1.0, 0.05)
    aps = []
    for threshold in iou_thresholds:
        ap = compute_ap(gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
                        iou_threshold=threshold)[0]
        aps.append(ap)
        if verbose:
            print(f"AP @ IoU {threshold:.2f}: {ap:.3f}")
    mean_ap = float(np.mean(aps))
    if verbose:
        print(f"AP @ IoU {iou_thresholds[0]:.2f}-{iou_thresholds[-1]:.2f}: {mean_ap:.3f}")
    return mean_ap


def compute_recall(pred_boxes, gt_boxes, iou):
    """Box recall: share of GT boxes that some prediction overlaps with IoU >= iou.

    pred_boxes: [N, 4], gt_boxes: [M, 4] pixels. Returns (recall, positive_ids) where positive_ids
    are the indices of predictions whose best IoU >= iou. No ground truth -> recall 1.0.
    """
    pred_boxes = np.asarray(pred_boxes).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4)
    if len(gt_boxes) == 0:
        return 1.0, np.zeros([0], dtype=np.int64)
    if len(pred_boxes) == 0:
        return 0.0, np.zeros([0], dtype=np.int64)
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    positive_ids = np.where(overlaps.max(axis=1) >= iou)[0]
    matched = np.unique(overlaps.argmax(axis=1)[positive_ids])
    return len(matched) / len(gt_boxes), positive_ids
