"""Copy-paste augmentation: paste instances cut from another training image (Ghiasi et al., 2021).

On a small dataset it multiplies the instances the heads see, puts objects against backgrounds
they never had (fewer "anything round on this wall is a balloon" mistakes), and, by shrinking
them, makes the small objects the images lack. Pasted pixels cover the target's objects, whose
masks lose what was covered. Both images are already resized to the model's input frame.
"""

import numpy as np

from mrcnn.data.masks import extract_bboxes
from mrcnn.data.resize import resize, resize_mask


class CopyPaste:
    """Paste a random subset of a donor's instances, scaled by a factor in `scale` (lo, hi).

    Calling it always pastes; the data loader asks `wants_donor(rng)` first, which is true with
    `probability`. Config.COPY_PASTE_PROB and COPY_PASTE_SCALE set it up for `train()` (`from_config`).
    """

    def __init__(self, probability=0.5, scale=(0.25, 1.0)):
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"CopyPaste: probability must be in [0, 1], got {probability}")
        low, high = scale
        if not 0.0 < low <= high:
            raise ValueError(f"CopyPaste: scale must be (low, high) with 0 < low <= high, got {scale}")
        self.probability = probability
        self.scale = (float(low), float(high))

    @classmethod
    def from_config(cls, config):
        """The config's copy-paste, or None when COPY_PASTE_PROB is 0."""
        if not config.COPY_PASTE_PROB:
            return None
        return cls(config.COPY_PASTE_PROB, tuple(config.COPY_PASTE_SCALE))

    def wants_donor(self, rng):
        """Draw whether this example gets a paste."""
        return rng.random() < self.probability

    def __call__(self, image, masks, class_ids, window, donor, rng):
        """Paste onto (image [H, W, 3], masks [H, W, N] bool, class_ids [N]) inside window (y1, x1, y2, x2).

        donor: (image, masks, class_ids) of another image in the same frame. Returns the new
        (image, masks, class_ids); the pasted instances come last.
        """
        patch, patch_masks, patch_ids = self._cut(*donor, rng)
        if patch is None:
            return image, masks, class_ids
        patch, patch_masks = self._rescale(patch, patch_masks, window, rng)
        height, width = patch.shape[:2]
        y1, x1, y2, x2 = window
        top = int(rng.integers(y1, max(y1, y2 - height) + 1))
        left = int(rng.integers(x1, max(x1, x2 - width) + 1))
        pasted = np.zeros(image.shape[:2] + (patch_masks.shape[2],), bool)
        pasted[top : top + height, left : left + width] = patch_masks
        alpha = patch_masks.any(axis=2)
        image = image.copy()
        image[top : top + height, left : left + width][alpha] = patch[alpha]
        masks = masks & ~pasted.any(axis=2)[:, :, None]
        return image, np.concatenate([masks, pasted], axis=2), np.concatenate([class_ids, patch_ids])

    @staticmethod
    def _cut(image, masks, class_ids, rng):
        """A random non-empty subset of the donor's (non-crowd) instances, cropped to their union's box
        and mirrored left-right with probability 0.5."""
        usable = np.flatnonzero((class_ids > 0) & masks.any(axis=(0, 1)))
        if not len(usable):
            return None, None, None
        chosen = usable[rng.random(len(usable)) < 0.5]
        if not len(chosen):
            chosen = usable[[rng.integers(len(usable))]]
        masks = masks[:, :, chosen]
        y1, x1, y2, x2 = extract_bboxes(masks.any(axis=2, keepdims=True))[0]
        patch, patch_masks = image[y1:y2, x1:x2], masks[y1:y2, x1:x2]
        if rng.random() < 0.5:
            patch, patch_masks = patch[:, ::-1], patch_masks[:, ::-1]
        return patch, patch_masks, class_ids[chosen]

    def _rescale(self, patch, patch_masks, window, rng):
        """Resize by a random factor in self.scale, capped so the patch fits in the window."""
        y1, x1, y2, x2 = window
        height, width = patch.shape[:2]
        factor = min(rng.uniform(*self.scale), (y2 - y1) / height, (x2 - x1) / width)
        patch_masks = resize_mask(patch_masks, factor, [(0, 0), (0, 0), (0, 0)])
        return resize(np.ascontiguousarray(patch), patch_masks.shape[:2]), patch_masks
