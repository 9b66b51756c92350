"""Slow, obviously-correct numpy references shared by the tests."""

import numpy as np


def iou_reference(a, b):
    """Loop IoU in float64; pairs with a zero-area box give 0."""
    out = np.zeros((len(a), len(b)))
    for i, (ay1, ax1, ay2, ax2) in enumerate(np.asarray(a, np.float64)):
        for j, (by1, bx1, by2, bx2) in enumerate(np.asarray(b, np.float64)):
            area_a = max(ay2 - ay1, 0) * max(ax2 - ax1, 0)
            area_b = max(by2 - by1, 0) * max(bx2 - bx1, 0)
            inter = max(min(ay2, by2) - max(ay1, by1), 0) * max(min(ax2, bx2) - max(ax1, bx1), 0)
            out[i, j] = inter / (area_a + area_b - inter) if area_a > 0 and area_b > 0 else 0.0
    return out
