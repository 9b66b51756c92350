"""A seeded hold-out of a prepared dataset: the val split when the user has none."""

import copy

import numpy as np


def subset(dataset, image_ids):
    """A prepared copy of `dataset` with only `image_ids` (same classes, same loader)."""
    part = copy.copy(dataset)
    part.image_info = [dataset.image_info[i] for i in image_ids]
    part.prepare()
    return part


def holdout(dataset, fraction=0.15, seed=0):
    """(train, val): a seeded `fraction` of the images (at least one, at least one per class when the class has
    two images or more) held out as val; images without instances are split like the others.

    The images' classes come from load_mask, so this reads every annotation once.
    """
    ids = list(dataset.image_ids)
    if len(ids) < 2:
        raise ValueError(f"a hold-out needs at least 2 images, the dataset has {len(ids)}; pass a val split")
    rng = np.random.default_rng(seed)
    order = [ids[i] for i in rng.permutation(len(ids))]
    classes = {i: set(np.abs(dataset.load_mask(i)[1]).tolist()) for i in ids}
    count = min(len(ids) - 1, max(1, round(fraction * len(ids))))
    held = []
    for class_id in range(1, dataset.num_classes):
        having = [i for i in order if class_id in classes[i]]
        if len(having) >= 2 and not any(class_id in classes[i] for i in held):
            held.append(having[0])
    held += [i for i in order if i not in held][: max(0, count - len(held))]
    kept = [i for i in ids if i not in held]
    return subset(dataset, kept), subset(dataset, sorted(held))
