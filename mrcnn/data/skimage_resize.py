"""matterport's utils.resize: mrcnn's resize, or skimage.transform.resize when skimage's keyword arguments are given."""

from mrcnn.data import resize as resize_lib

SKIMAGE_KEYWORDS = ("order", "mode", "cval", "clip", "preserve_range", "anti_aliasing", "anti_aliasing_sigma")


def resize(image, output_shape, **skimage_kwargs):
    """Resize image to output_shape (h, w).

    Without keywords: mrcnn.data.resize.resize (bilinear, dtype preserved). With any of skimage's
    keywords (order, mode, cval, clip, preserve_range, anti_aliasing, anti_aliasing_sigma), matterport's
    call: skimage.transform.resize with them, so the values and dtype are skimage's.
    """
    unknown = sorted(set(skimage_kwargs) - set(SKIMAGE_KEYWORDS))
    if unknown:
        raise TypeError(f"resize() got unknown keyword(s) {unknown}; accepted: {', '.join(SKIMAGE_KEYWORDS)}")
    if not skimage_kwargs:
        return resize_lib.resize(image, output_shape)
    from skimage.transform import resize as skimage_resize

    return skimage_resize(image, output_shape, **skimage_kwargs)
