"""Dataset report: classes, image sizes, object sizes against the anchors, negatives and rejected annotations.

``inspect_dataset`` returns a plain dict; ``format_report`` turns it into a text table and ``save_report_png`` into a
figure. Object sizes are measured at the model's input size: the image's longer side resized to ``image_size``
(as Config's "square" resize), then COCO buckets on the mask area: small < 32², medium < 96², large.
"""

import warnings

import numpy as np
from matplotlib.figure import Figure

from mrcnn.config import Config
from mrcnn.data.dataset import image_label
from mrcnn.data.errors import DatasetError
from mrcnn.engine.atomic import atomic_path

COCO_SMALL, COCO_MEDIUM = 32**2, 96**2


def _instances(dataset, image_id, problems):
    """(masks [H, W, N], class_ids [N]) of one image; load errors and dropped annotations go to ``problems``."""
    ref = image_label(dataset, image_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            masks, class_ids = dataset.load_mask(image_id)
        except DatasetError as e:
            problems.append((str(ref), None, str(e)))
            return None, None
    problems.extend((str(ref), None, str(w.message)) for w in caught if issubclass(w.category, UserWarning))
    return masks, class_ids


def nearest_anchor(side, anchor_scales):
    """Index of the anchor scale closest to ``side`` on a log scale."""
    return int(np.argmin(np.abs(np.log(np.asarray(anchor_scales, np.float64)) - np.log(max(side, 1e-6)))))


def inspect_dataset(dataset, image_size=1024, anchor_scales=None):
    """Summary dict of a prepared dataset; see the module docstring for how object sizes are measured.

    Keys: num_images, num_instances, classes {name: instances}, image_sizes [(h, w)], object_sides [sqrt area at the
    input size], object_buckets {small, medium, large}, anchor_scales, per_anchor {scale: objects nearest to it},
    negatives [image reference], problems [(file, index, message)] (the loader's and those met while reading masks).
    """
    anchor_scales = list(anchor_scales or Config.RPN_ANCHOR_SCALES)
    problems = list(getattr(dataset, "problems", []))
    classes = {name: 0 for name in dataset.class_names[1:]}
    sizes, sides, negatives = [], [], []
    for image_id in dataset.image_ids:
        masks, class_ids = _instances(dataset, image_id, problems)
        if masks is None:
            continue
        height, width = masks.shape[:2]
        sizes.append((int(height), int(width)))
        if not len(class_ids):
            negatives.append(image_label(dataset, image_id))
        scale = image_size / max(height, width)
        for k, class_id in enumerate(class_ids):
            classes[dataset.class_names[abs(int(class_id))]] += 1
            sides.append(float(np.sqrt(masks[..., k].sum()) * scale))
    areas = np.square(sides)
    buckets = {
        "small": int((areas < COCO_SMALL).sum()),
        "medium": int(((areas >= COCO_SMALL) & (areas < COCO_MEDIUM)).sum()),
        "large": int((areas >= COCO_MEDIUM).sum()),
    }
    per_anchor = {scale: 0 for scale in anchor_scales}
    for side in sides:
        per_anchor[anchor_scales[nearest_anchor(side, anchor_scales)]] += 1
    return {
        "num_images": len(dataset.image_ids),
        "num_instances": len(sides),
        "image_size": image_size,
        "classes": classes,
        "image_sizes": sizes,
        "object_sides": sides,
        "object_buckets": buckets,
        "anchor_scales": anchor_scales,
        "per_anchor": per_anchor,
        "negatives": negatives,
        "problems": problems,
    }


def format_report(report):
    """The report as a text table (one block per topic)."""
    lines = [f"images: {report['num_images']}   instances: {report['num_instances']}", "", "class            instances"]
    lines += [f"{name:<16} {count:>9}" for name, count in report["classes"].items()]
    if report["image_sizes"]:
        h, w = np.array(report["image_sizes"]).T
        lines += ["", f"image sizes (HxW): min {h.min()}x{w.min()}, median {int(np.median(h))}x{int(np.median(w))}"]
        lines[-1] += f", max {h.max()}x{w.max()}"
    b = report["object_buckets"]
    lines += ["", f"object sizes at input {report['image_size']} (COCO): small {b['small']}, medium {b['medium']}"]
    lines[-1] += f", large {b['large']}"
    if report["object_sides"]:
        s = np.array(report["object_sides"])
        lines.append(f"object side sqrt(area): min {s.min():.0f}, median {np.median(s):.0f}, max {s.max():.0f} px")
    lines += ["", "anchor scale   objects nearest"]
    lines += [f"{scale:>12} {count:>17}" for scale, count in report["per_anchor"].items()]
    lines += ["", f"images without instances: {len(report['negatives'])}"]
    lines += [f"  {ref}" for ref in report["negatives"]]
    lines += ["", f"rejected annotations: {len(report['problems'])}"]
    for file, index, message in report["problems"]:
        lines.append(f"  {file}" + ("" if index is None else f" [{index}]") + f": {message}")
    return "\n".join(lines)


def save_report_png(report, path):
    """Write the report's figure (class counts, object sizes against the anchors, image sizes) atomically."""
    fig = Figure(figsize=(15, 4.5), layout="constrained")
    classes, sizes, sides = report["classes"], report["image_sizes"], report["object_sides"]
    ax = fig.add_subplot(1, 3, 1)
    ax.bar(list(classes), list(classes.values()), color="tab:blue")
    ax.set_title(f"instances per class ({report['num_images']} images, {len(report['negatives'])} without instances)")
    ax.tick_params(axis="x", rotation=45)
    ax = fig.add_subplot(1, 3, 2)
    scales = report["anchor_scales"]
    low, high = min(scales + sides) / 2, max(scales + sides) * 2
    ax.hist(sides, bins=np.geomspace(max(low, 1), high, 30), color="tab:green")
    for scale in scales:
        ax.axvline(scale, color="tab:red", linestyle="--", linewidth=1)
    ax.set_xscale("log")
    ax.set_title(f"object side sqrt(area) at input {report['image_size']}; red: anchor scales")
    ax.set_xlabel("pixels")
    ax = fig.add_subplot(1, 3, 3)
    if sizes:
        h, w = np.array(sizes).T
        ax.scatter(w, h, s=12, alpha=0.6)
    ax.set_title("image sizes")
    ax.set_xlabel("width")
    ax.set_ylabel("height")
    with atomic_path(path) as temp:
        fig.savefig(temp, format="png", dpi=80)
    return path
