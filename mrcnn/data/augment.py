"""Image + instance-mask augmentation on NumPy 2 (no imgaug needed).

Every augmenter has one interface, `aug(image, masks, rng) -> (image, masks)`:
    image: [H, W, 3] uint8 RGB.
    masks: [H, W, N] bool, one channel per instance (N may be 0).
    rng: numpy.random.Generator; all randomness comes from it, so a seeded rng repeats exactly.
Geometric augmenters move image and masks together; photometric ones leave masks unchanged.
Output shapes equal input shapes (needed to keep the masks aligned with the image).

`as_augmenter(obj)` also adapts an albumentations transform or a matterport-style imgaug augmenter.
"""

import math

import numpy as np
from PIL import Image

# imgaug augmenters that may touch masks (geometry only), as matterport used them.
IMGAUG_MASK_SAFE = frozenset(
    {
        "Sequential",
        "SomeOf",
        "OneOf",
        "Sometimes",
        "Fliplr",
        "Flipud",
        "CropAndPad",
        "Affine",
        "PiecewiseAffine",
    }
)
IMGAUG_MISSING = (
    "imgaug augmenters need the imgaug package, which does not import on NumPy 2 (it uses np.sctypes, removed in "
    "NumPy 2.0) and is unmaintained. Use the built-in augmenters, which keep imgaug's names and arguments: replace "
    "`from imgaug import augmenters as iaa` with `from mrcnn.data import augment as iaa` (Fliplr, Flipud, Multiply, "
    "Contrast, GaussianBlur, Affine, Sometimes, OneOf, SomeOf, Sequential), or pass an albumentations transform, "
    "e.g. albumentations.HorizontalFlip(p=0.5)."
)


def _probability(p):
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"Probability p must be in [0, 1], got {p}")
    return float(p)


def _interval(value, name, low_bound=-math.inf):
    """(lo, hi) floats with low_bound <= lo <= hi; a single number v means (v, v), as in imgaug."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value, value)
    try:
        lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {value!r}") from None
    if not low_bound <= lo <= hi:
        raise ValueError(f"{name} must satisfy {low_bound} <= low <= high, got {value!r}")
    return lo, hi


def _to_uint8(image):
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


class Augmenter:
    """Base class: subclasses implement `__call__(image, masks, rng) -> (image, masks)`."""

    def __call__(self, image, masks, rng):
        raise NotImplementedError

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class Fliplr(Augmenter):
    """Mirror left-right with probability p."""

    def __init__(self, p=0.5):
        self.p = _probability(p)

    def __call__(self, image, masks, rng):
        if rng.random() >= self.p:
            return image, masks
        return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(masks[:, ::-1])


class Flipud(Augmenter):
    """Mirror top-bottom with probability p."""

    def __init__(self, p=0.5):
        self.p = _probability(p)

    def __call__(self, image, masks, rng):
        if rng.random() >= self.p:
            return image, masks
        return np.ascontiguousarray(image[::-1]), np.ascontiguousarray(masks[::-1])


class Multiply(Augmenter):
    """Brightness: multiply all pixels by one factor drawn uniformly from `mul` = (lo, hi)."""

    def __init__(self, mul=(0.8, 1.2)):
        self.mul = _interval(mul, "Multiply mul", low_bound=0.0)

    def __call__(self, image, masks, rng):
        return _to_uint8(image * np.float32(rng.uniform(*self.mul))), masks


class Contrast(Augmenter):
    """Scale each pixel's distance from the image mean by a factor drawn from `alpha` = (lo, hi)."""

    def __init__(self, alpha=(0.75, 1.25)):
        self.alpha = _interval(alpha, "Contrast alpha", low_bound=0.0)

    def __call__(self, image, masks, rng):
        factor = np.float32(rng.uniform(*self.alpha))
        mean = np.float32(image.mean())
        return _to_uint8(mean + (image - mean) * factor), masks


def gaussian_kernel(sigma):
    """Normalised 1-D Gaussian, radius ceil(3 sigma): [2 * radius + 1] float32."""
    radius = max(1, math.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float32)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _convolve_axis(image, kernel, axis):
    """Correlate float image [H, W, C] with a symmetric 1-D kernel along `axis`, reflecting at the borders."""
    radius = len(kernel) // 2
    pad = [(0, 0)] * image.ndim
    pad[axis] = (radius, radius)
    padded = np.pad(image, pad, mode="reflect")
    length = image.shape[axis]
    out = np.zeros_like(image)
    for offset, weight in enumerate(kernel):
        window = [slice(None)] * image.ndim
        window[axis] = slice(offset, offset + length)
        out += weight * padded[tuple(window)]
    return out


class GaussianBlur(Augmenter):
    """Separable Gaussian blur with sigma (pixels) drawn from `sigma` = (lo, hi); sigma < 0.1 is a no-op."""

    def __init__(self, sigma=(0.0, 1.0)):
        self.sigma = _interval(sigma, "GaussianBlur sigma", low_bound=0.0)

    def __call__(self, image, masks, rng):
        sigma = rng.uniform(*self.sigma)
        if sigma < 0.1:
            return image, masks
        kernel = gaussian_kernel(sigma)
        blurred = _convolve_axis(_convolve_axis(image.astype(np.float32), kernel, 0), kernel, 1)
        return _to_uint8(blurred), masks


class Affine(Augmenter):
    """Zoom by `scale`, rotate by `rotate` degrees (counter-clockwise) about the image centre, then shift.

    Each factor is drawn uniformly from its (lo, hi); `translate` is a fraction of the image size, drawn
    separately for x and y. The output keeps the input size; uncovered pixels are 0. The image is
    resampled bilinearly, masks by nearest neighbour with the same transform.
    """

    def __init__(self, scale=(1.0, 1.0), rotate=(0.0, 0.0), translate=(0.0, 0.0)):
        self.scale = _interval(scale, "Affine scale", low_bound=1e-3)
        self.rotate = _interval(rotate, "Affine rotate")
        self.translate = _interval(translate, "Affine translate")

    def __call__(self, image, masks, rng):
        scale, degrees = rng.uniform(*self.scale), rng.uniform(*self.rotate)
        height, width = image.shape[:2]
        shift = rng.uniform(*self.translate, size=2) * (width, height)
        coeffs = self.inverse_coefficients(scale, degrees, width / 2.0, height / 2.0, shift)

        def warp(array, resample):
            pil = Image.fromarray(array).transform((width, height), Image.Transform.AFFINE, coeffs, resample=resample)
            return np.asarray(pil)

        image = warp(image, Image.Resampling.BILINEAR)
        warped = [
            warp(masks[..., i].astype(np.uint8) * 255, Image.Resampling.NEAREST) > 127 for i in range(masks.shape[-1])
        ]
        return image, np.stack(warped, axis=-1) if warped else masks

    @staticmethod
    def inverse_coefficients(scale, degrees, cx, cy, shift=(0.0, 0.0)):
        """PIL AFFINE data (a, b, c, d, e, f): output pixel (x, y) samples input (a x + b y + c, d x + e y + f).

        The forward map rotates/zooms about (cx, cy), then moves by shift = (dx, dy) pixels.
        """
        theta = math.radians(degrees)
        cos, sin = math.cos(theta) / scale, math.sin(theta) / scale
        # Inverse of a counter-clockwise rotation in y-down image coordinates, about (cx, cy).
        a, b, d, e = cos, -sin, sin, cos
        ox, oy = cx + shift[0], cy + shift[1]
        return (a, b, cx - a * ox - b * oy, d, e, cy - d * ox - e * oy)


def _one_or_sequence(augmenters):
    """An augmenter from one augmenter or a list of them (applied in turn), as imgaug's child lists."""
    return Sequential(augmenters) if isinstance(augmenters, (list, tuple)) else as_augmenter(augmenters)


class Sometimes(Augmenter):
    """Apply `augmenter` with probability p, else `else_augmenter` (if any); each may be a list, as in imgaug."""

    def __init__(self, p, augmenter, else_augmenter=None):
        self.p = _probability(p)
        self.augmenter = _one_or_sequence(augmenter)
        self.else_augmenter = None if else_augmenter is None else _one_or_sequence(else_augmenter)

    def __call__(self, image, masks, rng):
        if rng.random() < self.p:
            return self.augmenter(image, masks, rng)
        return self.else_augmenter(image, masks, rng) if self.else_augmenter else (image, masks)


class SomeOf(Augmenter):
    """Apply n of the augmenters, chosen at random without repeats, in list order (or random order).

    n: an int, or (lo, hi) drawn uniformly per call; hi None means all of them (imgaug's meaning).
    """

    def __init__(self, n, augmenters, random_order=False):
        self.augmenters = [as_augmenter(a) for a in augmenters]
        count = len(self.augmenters)
        lo, hi = (n, n) if isinstance(n, int) else (n[0], count if n[1] is None else n[1])
        if not 0 <= lo <= hi <= count:
            raise ValueError(f"SomeOf n must satisfy 0 <= low <= high <= {count} (the augmenter count), got {n!r}")
        self.n = (int(lo), int(hi))
        self.random_order = bool(random_order)

    def __call__(self, image, masks, rng):
        chosen = rng.choice(len(self.augmenters), size=rng.integers(self.n[0], self.n[1] + 1), replace=False)
        for index in chosen if self.random_order else np.sort(chosen):
            image, masks = self.augmenters[index](image, masks, rng)
        return image, masks


class OneOf(Augmenter):
    """Apply one augmenter chosen uniformly at random."""

    def __init__(self, augmenters):
        self.augmenters = [as_augmenter(a) for a in augmenters]
        if not self.augmenters:
            raise ValueError("OneOf needs at least one augmenter")

    def __call__(self, image, masks, rng):
        return self.augmenters[rng.integers(len(self.augmenters))](image, masks, rng)


class Sequential(Augmenter):
    """Apply every augmenter in turn (in a random order per call if random_order)."""

    def __init__(self, augmenters, random_order=False):
        self.augmenters = [as_augmenter(a) for a in augmenters]
        self.random_order = bool(random_order)

    def __call__(self, image, masks, rng):
        order = rng.permutation(len(self.augmenters)) if self.random_order else range(len(self.augmenters))
        for index in order:
            image, masks = self.augmenters[index](image, masks, rng)
        return image, masks


def default_augmentation():
    """Mild, always-safe training augmentation (Config.AUGMENTATION = "default").

    Left-right flip (p 0.5); brightness x0.8..1.2 (p 0.5); zoom x0.9..1.1 about the centre (p 0.5).
    No vertical flip or rotation, which would be wrong for many datasets (e.g. upright objects).
    """
    return Sequential(
        [
            Fliplr(0.5),
            Sometimes(0.5, Multiply((0.8, 1.2))),
            Sometimes(0.5, Affine(scale=(0.9, 1.1))),
        ]
    )


def scale_jitter_augmentation():
    """Stronger augmentation for small datasets (Config.AUGMENTATION = "scale_jitter").

    The default's flip, plus brightness x0.7..1.3 and contrast x0.8..1.2 (p 0.5 each), and (p 0.7) a
    zoom of x0.6..1.5 with a shift of up to 15% of the image: objects are seen at many sizes and
    positions, so the RPN cannot simply memorise the training images.
    """
    return Sequential(
        [
            Fliplr(0.5),
            Sometimes(0.5, Multiply((0.7, 1.3))),
            Sometimes(0.5, Contrast((0.8, 1.2))),
            Sometimes(0.7, Affine(scale=(0.6, 1.5), translate=(-0.15, 0.15))),
        ]
    )


PRESETS = {"default": default_augmentation, "scale_jitter": scale_jitter_augmentation}


def preset(name):
    """The augmenter for a Config.AUGMENTATION name (None gives None)."""
    if name is None:
        return None
    if name not in PRESETS:
        raise ValueError(f"Unknown augmentation preset {name!r}: use one of {sorted(PRESETS)}")
    return PRESETS[name]()


class _Albumentations(Augmenter):
    """Adapter: calls `transform(image=image, masks=[m0, m1, ...])`, reseeded from our rng each call."""

    def __init__(self, transform):
        self.transform = transform

    def __call__(self, image, masks, rng):
        if hasattr(self.transform, "set_random_seed"):
            self.transform.set_random_seed(int(rng.integers(2**31)))
        out = self.transform(image=image, masks=[masks[..., i].astype(np.uint8) for i in range(masks.shape[-1])])
        new_masks = [np.asarray(m, dtype=bool) for m in out.get("masks", [])]
        image = out["image"]
        return image, np.stack(new_masks, axis=-1) if new_masks else np.zeros(image.shape[:2] + (0,), bool)


class _Imgaug(Augmenter):
    """Adapter, as matterport used imgaug: one deterministic copy for the image, then for the masks
    with only the augmenters in IMGAUG_MASK_SAFE active."""

    def __init__(self, augmenter, imgaug_module):
        self.augmenter = augmenter
        self.hooks = imgaug_module.HooksImages(activator=self._mask_safe)

    @staticmethod
    def _mask_safe(images, augmenter, parents, default):
        return type(augmenter).__name__ in IMGAUG_MASK_SAFE

    def __call__(self, image, masks, rng):
        if hasattr(self.augmenter, "seed_"):
            self.augmenter.seed_(int(rng.integers(2**31)))
        deterministic = self.augmenter.to_deterministic()
        image = deterministic.augment_image(image)
        if masks.shape[-1]:
            masks = deterministic.augment_image(masks.astype(np.uint8), hooks=self.hooks).astype(bool)
        return image, masks


def _import_imgaug():
    try:
        import imgaug
    except (ImportError, AttributeError) as err:  # AttributeError: np.sctypes on NumPy 2.
        raise ImportError(IMGAUG_MISSING) from err
    return imgaug


def _is_albumentations(obj):
    return any(cls.__module__.split(".")[0] == "albumentations" for cls in type(obj).__mro__)


class Checked(Augmenter):
    """Wraps an augmenter: validates inputs and that outputs keep the shapes (masks stay aligned)."""

    def __init__(self, augmenter):
        self.augmenter = augmenter

    def __repr__(self):
        return repr(self.augmenter)

    def __call__(self, image, masks, rng=None):
        image, masks = np.asarray(image), np.asarray(masks)
        if image.dtype != np.uint8 or image.ndim != 3:
            raise ValueError(f"image must be uint8 [H, W, C], got {image.dtype} {image.shape}")
        if masks.ndim != 3 or masks.shape[:2] != image.shape[:2]:
            raise ValueError(f"masks must be [H, W, N] with the image's H, W {image.shape[:2]}, got {masks.shape}")
        rng = np.random.default_rng() if rng is None else rng
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
        new_image, new_masks = self.augmenter(image, masks.astype(bool, copy=False), rng)
        new_image, new_masks = np.asarray(new_image), np.asarray(new_masks)
        if new_image.shape != image.shape or new_masks.shape != masks.shape:
            raise ValueError(
                f"Augmenter {self.augmenter!r} changed the shapes: image {image.shape} -> {new_image.shape}, "
                f"masks {masks.shape} -> {new_masks.shape}. Only shape-preserving augmenters are supported "
                "(the image and its masks must keep the same size); drop crops/resizes or pad back to size."
            )
        if new_image.dtype != np.uint8:
            raise ValueError(f"Augmenter {self.augmenter!r} returned a {new_image.dtype} image; it must stay uint8")
        return new_image, new_masks.astype(bool, copy=False)


def as_augmenter(obj):
    """A checked `aug(image, masks, rng) -> (image, masks)` from:

    - a built-in `Augmenter` (or subclass), or a preset name from PRESETS ("default", "scale_jitter");
    - an albumentations transform or Compose (masks passed as a list, reseeded from rng);
    - an imgaug augmenter (anything with `to_deterministic`), applied as matterport did.
    Raises TypeError for anything else, ImportError if imgaug cannot be imported.
    """
    if isinstance(obj, Checked):
        return obj
    if isinstance(obj, str):
        return Checked(preset(obj))
    if isinstance(obj, Augmenter):
        return Checked(obj)
    if _is_albumentations(obj):
        return Checked(_Albumentations(obj))
    if hasattr(obj, "to_deterministic"):
        return Checked(_Imgaug(obj, _import_imgaug()))
    raise TypeError(
        f"Cannot use {type(obj).__name__} {obj!r:.80} as an augmenter. Pass a mrcnn.data.augment augmenter "
        "(or a subclass of mrcnn.data.augment.Augmenter), a preset name, an albumentations transform, "
        "or an imgaug augmenter."
    )
