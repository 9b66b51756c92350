"""Synthetic shapes (squares, circles, triangles), generated in memory: for tests and demos.

Each image has a plain background and 1..max_shapes shapes of random colour, size and place;
masks are exact. Generation is seeded, so a dataset is reproducible.
"""

import numpy as np
from PIL import Image, ImageDraw

from mrcnn.data.dataset import Dataset

SHAPES = ("square", "circle", "triangle")


def _outline(shape, y, x, size):
    if shape == "square":
        return [(x - size, y - size), (x + size, y - size), (x + size, y + size), (x - size, y + size)]
    if shape == "triangle":
        return [(x, y - size), (x - size * 1.15, y + size * 0.85), (x + size * 1.15, y + size * 0.85)]
    return None


def _draw(canvas, shape, y, x, size, fill):
    if shape == "circle":
        canvas.ellipse([x - size, y - size, x + size, y + size], fill=fill)
    else:
        canvas.polygon(_outline(shape, y, x, size), fill=fill)


class ShapesDataset(Dataset):
    """`load_shapes(count, height, width)` fills the dataset; images are drawn on demand."""

    def load_shapes(self, count, height, width, seed=0, max_shapes=3, min_shapes=1, size_range=None):
        rng = np.random.default_rng(seed)
        for class_id, name in enumerate(SHAPES, start=1):
            self.add_class("shapes", class_id, name)
        low, high = size_range or (max(4, min(height, width) // 10), max(6, min(height, width) // 4))
        for image_id in range(count):
            background = rng.integers(0, 256, 3)
            shapes = []
            for _ in range(rng.integers(min_shapes, max_shapes + 1)):
                size = int(rng.integers(low, high + 1))
                y = int(rng.integers(size, height - size))
                x = int(rng.integers(size, width - size))
                color = tuple(int(c) for c in (background + rng.integers(80, 176, 3)) % 256)
                shapes.append((SHAPES[rng.integers(len(SHAPES))], color, (y, x, size)))
            self.add_image(
                "shapes",
                image_id=image_id,
                path=None,
                width=width,
                height=height,
                bg_color=tuple(int(c) for c in background),
                shapes=shapes,
            )

    def load_image(self, image_id):
        info = self.image_info[image_id]
        image = Image.new("RGB", (info["width"], info["height"]), info["bg_color"])
        canvas = ImageDraw.Draw(image)
        for shape, color, (y, x, size) in info["shapes"]:
            _draw(canvas, shape, y, x, size, color)
        return np.asarray(image)

    def load_mask(self, image_id):
        """Masks [H, W, N] bool with occlusion applied (later shapes cover earlier ones)."""
        info = self.image_info[image_id]
        shapes = info["shapes"]
        masks = np.zeros((info["height"], info["width"], len(shapes)), bool)
        for i, (shape, _, (y, x, size)) in enumerate(shapes):
            layer = Image.new("1", (info["width"], info["height"]), 0)
            _draw(ImageDraw.Draw(layer), shape, y, x, size, 1)
            masks[:, :, i] = np.asarray(layer)
        for i in range(len(shapes) - 1):
            masks[:, :, i] &= ~masks[:, :, i + 1 :].any(axis=2)
        keep = masks.any(axis=(0, 1))
        class_ids = np.array([SHAPES.index(s[0]) + 1 for s in shapes], np.int32)
        return masks[:, :, keep], class_ids[keep]

    def image_reference(self, image_id):
        return f"shapes:{image_id}"
