"""Drawing helpers: fast numpy/PIL overlays (``draw_instances``, ``color_splash``, ``save_image``) and
matterport's matplotlib displays (``display_instances`` and friends).

matplotlib is imported lazily, so the fast path (used by the REST API) never loads it.
boxes: [N, (y1, x1, y2, x2)] pixels, y2/x2 exclusive; masks: [H, W, N] bool.
"""

import colorsys
import os
import random
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from mrcnn.data.images import rgb_array
from mrcnn.data.masks import extract_bboxes, paste_masks
from mrcnn.engine.atomic import atomic_path
from mrcnn.inference.results import instance_count

_NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}
_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


# ----------------------------------------------------------------------------------------------
# Colours and blending
# ----------------------------------------------------------------------------------------------


def random_colors(N, bright=True, seed=None):
    """N distinct colours: evenly spaced hues, shuffled. Returns a list of RGB float tuples in [0, 1]."""
    value = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / max(N, 1), 1.0, value) for i in range(N)]
    random.Random(seed).shuffle(colors)
    return colors


def apply_mask(image, mask, color, alpha=0.5):
    """Blend ``color`` (RGB floats in [0, 1]) into image [H, W, 3] where mask [H, W] is set.

    Modifies ``image`` in place (as matterport) and returns it.
    """
    mask = np.asarray(mask).astype(bool)
    blended = image[mask].astype(np.float32) * (1 - alpha) + alpha * np.asarray(color, np.float32) * 255
    if np.issubdtype(image.dtype, np.integer):
        blended = np.clip(np.rint(blended), 0, 255)
    image[mask] = blended.astype(image.dtype)
    return image


def _as_rgb_uint8(image):
    """image: [H, W] or [H, W, 3|4] any dtype -> new [H, W, 3] uint8 (values clipped to 0..255).

    Gray and RGBA follow the image decoder's policy (mrcnn.data.images.rgb_array: alpha on white).
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(f"image must be [H, W, 3] (or [H, W] / [H, W, 4]), got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image.astype(np.float32)), 0, 255).astype(np.uint8)
    return np.array(rgb_array(image), dtype=np.uint8, copy=True)


def _blend_masks(image, masks, colors, alpha):
    """Vectorised blend into image [H, W, 3] uint8 (in place). Where masks overlap, the FIRST instance
    (the highest-scoring one for sorted detections) gives the colour."""
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[:2] != image.shape[:2]:
        raise ValueError(f"masks must be [H, W, N] matching the image {image.shape[:2]}, got {masks.shape}")
    first = masks.argmax(axis=2)  # index of the first instance covering each pixel (0 if none)
    covered = np.take_along_axis(masks, first[:, :, None], axis=2)[:, :, 0]
    palette = np.asarray(colors, dtype=np.float32)[:, :3] * 255
    pixels = image[covered].astype(np.float32) * (1 - alpha) + alpha * palette[first[covered]]
    image[covered] = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return image


# ----------------------------------------------------------------------------------------------
# Fast overlay (numpy + PIL)
# ----------------------------------------------------------------------------------------------


def _font(image_size):
    size = max(10, min(image_size) // 40)
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def _label(class_names, class_id, score):
    if not 0 <= int(class_id) < len(class_names):
        raise ValueError(f"class id {class_id} out of range for {len(class_names)} class names")
    name = class_names[int(class_id)]
    return name if score is None else f"{name} {float(score):.3f}"


def _rgb255(color):
    return tuple(int(round(c * 255)) for c in color[:3])


def _draw_box(draw, box, rgb, line_width):
    y1, x1, y2, x2 = (int(v) for v in box)
    if x2 > x1 and y2 > y1:
        draw.rectangle([x1, y1, x2 - 1, y2 - 1], outline=rgb, width=line_width)


def _draw_label(draw, box, rgb, text, font, image_width):
    """Text on a filled tag at the box's top-left corner (above the box when there is room)."""
    y1, x1 = int(box[0]), int(box[1])
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left + 4, bottom - top + 4
    ty = y1 - th if y1 - th >= 0 else y1
    x1 = max(0, min(x1, image_width - tw - 1))
    draw.rectangle([x1, ty, x1 + tw, ty + th], fill=rgb)
    ink = (0, 0, 0) if sum(rgb) > 382 else (255, 255, 255)
    draw.text((x1 + 2 - left, ty + 2 - top), text, fill=ink, font=font)


def draw_instances(
    image, boxes, masks, class_ids, class_names, scores=None, colors=None, show_boxes=True, show_labels=True, alpha=0.5
):
    """Render instances onto a copy of the image, without matplotlib.

    image: [H, W, 3] uint8 (other dtypes are clipped to 0..255); boxes: [N, 4] pixels or None (then
    taken from the masks); masks: [H, W, N] bool or None (boxes only); class_ids: [N];
    class_names: list indexed by class id; scores: [N] or None; colors: N RGB float tuples or None.
    Where masks overlap, the first instance's colour wins. All-zero boxes (padding) get no box or
    label. Returns [H, W, 3] uint8; zero instances -> a copy.
    """
    out = _as_rgb_uint8(image)
    count = instance_count("draw_instances", boxes, class_ids, scores, masks)
    if count == 0:
        return out
    colors = random_colors(count) if colors is None else list(colors)
    if len(colors) < count:
        raise ValueError(f"draw_instances: {len(colors)} colors for {count} instances")
    if masks is not None:
        out = _blend_masks(out, masks, colors[:count], alpha)
    if not (show_boxes or show_labels):
        return out
    if boxes is None:
        if masks is None:
            return out
        boxes = extract_bboxes(np.asarray(masks, dtype=bool))
    canvas = Image.fromarray(out)
    draw = ImageDraw.Draw(canvas)
    font = _font(out.shape[:2])
    line_width = max(1, min(out.shape[:2]) // 300 + 1)
    for i, box in enumerate(np.asarray(boxes).reshape(-1, 4)):
        if not np.any(box):
            continue
        rgb = _rgb255(colors[i])
        if show_boxes:
            _draw_box(draw, box, rgb, line_width)
        if show_labels:
            _draw_label(
                draw,
                box,
                rgb,
                _label(class_names, class_ids[i], None if scores is None else scores[i]),
                font,
                out.shape[1],
            )
    return np.asarray(canvas).copy()


def color_splash(image, masks):
    """Gray image with the original colours kept inside the union of masks.

    image: [H, W, 3]; masks: [H, W, N] bool (N may be 0: all gray). Returns [H, W, 3] uint8.
    """
    rgb = _as_rgb_uint8(image)
    gray = rgb.astype(np.float32) @ np.array([0.2125, 0.7154, 0.0721], dtype=np.float32)
    gray = np.repeat(np.clip(np.rint(gray), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"color_splash: masks must be [H, W, N] matching the image {rgb.shape[:2]}, got {masks.shape}")
    if masks.shape[2] == 0:
        return gray
    keep = masks.astype(bool).any(axis=2)
    gray[keep] = rgb[keep]
    return gray


def save_image(array, path):
    """Write an image array to ``path`` (.png, .jpg or .jpeg) atomically: temp file, then os.replace.

    array: [H, W], [H, W, 3] or [H, W, 4] (alpha is dropped for JPEG), uint8 or bool.
    """
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _SAVE_FORMATS:
        raise ValueError(f"save_image: unknown extension {ext!r} in {path}; use one of {sorted(_SAVE_FORMATS)}")
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(
            f"save_image: need a uint8 [H, W], [H, W, 3] or [H, W, 4] array, got "
            f"{array.dtype} {array.shape}; convert with np.clip(a, 0, 255).astype(np.uint8)"
        )
    picture = Image.fromarray(array)
    if _SAVE_FORMATS[ext] == "JPEG" and picture.mode == "RGBA":
        picture = picture.convert("RGB")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"save_image: directory {directory} does not exist; create it first")
    with atomic_path(path) as temp:
        picture.save(temp, format=_SAVE_FORMATS[ext])
    return path


# ----------------------------------------------------------------------------------------------
# matplotlib displays (matterport API)
# ----------------------------------------------------------------------------------------------


def _pyplot():
    """Import pyplot, choosing the Agg backend when there is no display."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if headless:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _show_if_interactive(plt):
    if plt.get_backend().lower() not in _NON_INTERACTIVE:
        plt.show()


def display_images(images, titles=None, cols=4, cmap=None, norm=None, interpolation=None):
    """Show images in a grid with optional titles. Returns the figure."""
    plt = _pyplot()
    titles = list(titles) if titles is not None else [""] * len(images)
    rows = max(1, -(-len(images) // cols))
    fig = plt.figure(figsize=(14, 14 * rows / cols))
    for i, (image, title) in enumerate(zip(images, titles), start=1):
        ax = fig.add_subplot(rows, cols, i)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
        ax.imshow(np.asarray(image).astype(np.uint8), cmap=cmap, norm=norm, interpolation=interpolation)
    _show_if_interactive(plt)
    return fig


def _contours(ax, mask, color):
    """Outline a [H, W] bool mask on ax (marching squares on a zero-padded copy)."""
    from matplotlib.patches import Polygon
    from skimage.measure import find_contours

    padded = np.pad(mask.astype(np.uint8), 1)
    for verts in find_contours(padded, 0.5):
        ax.add_patch(Polygon(verts[:, ::-1] - 1, facecolor="none", edgecolor=color))


def display_instances(
    image,
    boxes,
    masks,
    class_ids,
    class_names,
    scores=None,
    title="",
    figsize=(16, 16),
    ax=None,
    show_mask=True,
    show_bbox=True,
    colors=None,
    captions=None,
):
    """matplotlib view of instances: masks, outlines, dashed boxes and captions. Returns the axes.

    Inputs as draw_instances; captions: optional list of N strings replacing "class score".
    A new figure is made (and shown on interactive backends) when ax is None.
    """
    plt = _pyplot()
    from matplotlib.patches import Rectangle

    count = instance_count("display_instances", boxes, class_ids, scores, masks)
    own_figure = ax is None
    if own_figure:
        _, ax = plt.subplots(1, figsize=figsize)
    colors = random_colors(count) if colors is None else list(colors)
    rgb = _as_rgb_uint8(image)
    height, width = rgb.shape[:2]
    ax.set_ylim(height + 10, -10)
    ax.set_xlim(-10, width + 10)
    ax.axis("off")
    ax.set_title(title)
    if show_mask and masks is not None and count:
        rgb = _blend_masks(rgb, masks, colors[:count], 0.5)
    boxes = np.zeros((count, 4)) if boxes is None else np.asarray(boxes).reshape(-1, 4)
    for i in range(count):
        y1, x1, y2, x2 = boxes[i]
        if show_bbox and np.any(boxes[i]):
            ax.add_patch(
                Rectangle(
                    (x1, y1),
                    x2 - x1,
                    y2 - y1,
                    linewidth=2,
                    alpha=0.7,
                    linestyle="dashed",
                    edgecolor=colors[i],
                    facecolor="none",
                )
            )
        caption = captions[i] if captions else _label(class_names, class_ids[i], None if scores is None else scores[i])
        if np.any(boxes[i]):
            ax.text(x1, y1 + 8, caption, color="w", size=11, backgroundcolor="none")
        if show_mask and masks is not None:
            _contours(ax, np.asarray(masks)[:, :, i], colors[i])
    ax.imshow(rgb)
    if own_figure:
        _show_if_interactive(plt)
    return ax


def display_top_masks(image, mask, class_ids, class_names, limit=4):
    """Show the image and the masks of its `limit` largest classes (union per class). Returns the figure."""
    mask = np.asarray(mask, dtype=bool)
    class_ids = np.asarray(class_ids).reshape(-1)
    unique = np.unique(class_ids)
    areas = [mask[:, :, class_ids == c].sum() for c in unique]
    top = [int(c) for _, c in sorted(zip(areas, unique), key=lambda t: -t[0])][:limit]
    images, titles = [image], ["H x W={}x{}".format(*np.shape(image)[:2])]
    for c in top:
        union = mask[:, :, class_ids == c].any(axis=2)
        images.append(union.astype(np.uint8) * 255)
        titles.append(class_names[c])
    while len(images) < limit + 1:
        images.append(np.zeros(np.shape(image)[:2], dtype=np.uint8))
        titles.append("-")
    return display_images(images, titles=titles, cols=limit + 1, cmap="Blues_r")


def plot_precision_recall(AP, precisions, recalls):
    """Plot the precision/recall curve with the AP in the title. Returns the axes."""
    plt = _pyplot()
    _, ax = plt.subplots(1)
    ax.set_title(f"Precision-Recall Curve. AP@50 = {AP:.3f}")
    ax.set_ylim(0, 1.1)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.plot(recalls, precisions)
    _show_if_interactive(plt)
    return ax


def plot_overlaps(gt_class_ids, pred_class_ids, pred_scores, overlaps, class_names, threshold=0.5):
    """Grid of IoUs between predictions (rows) and ground truth (columns), marking matches.

    overlaps: [num_pred, num_gt] as returned by compute_matches / compute_ap. Returns the axes.
    """
    plt = _pyplot()
    overlaps = np.asarray(overlaps).reshape(len(pred_class_ids), len(gt_class_ids))
    _, ax = plt.subplots(1, figsize=(max(4, len(gt_class_ids)), max(4, len(pred_class_ids))))
    ax.imshow(overlaps, cmap=plt.cm.Blues, vmin=0, vmax=1)
    ax.set_yticks(np.arange(len(pred_class_ids)))
    ax.set_yticklabels([f"{class_names[int(c)]} ({s:.2f})" for c, s in zip(pred_class_ids, pred_scores)])
    ax.set_xticks(np.arange(len(gt_class_ids)))
    ax.set_xticklabels([class_names[int(c)] for c in gt_class_ids], rotation=90)
    for i in range(overlaps.shape[0]):
        for j in range(overlaps.shape[1]):
            iou = overlaps[i, j]
            verdict = ""
            if iou > threshold:
                verdict = "match" if pred_class_ids[i] == gt_class_ids[j] else "wrong"
            ax.text(
                j,
                i,
                f"{iou:.3f}\n{verdict}",
                ha="center",
                va="center",
                fontsize=9,
                color="white" if iou > 0.5 else "black",
            )
    ax.set_xlabel("Ground Truth")
    ax.set_ylabel("Predictions")
    _show_if_interactive(plt)
    return ax


def plot_history(
    history,
    path=None,
    metrics=("loss", "rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss", "mrcnn_mask_loss"),
):
    """Training curves (train and validation per epoch) from `mrcnn.engine.history.read_history`.

    One panel per metric; saved to `path` (PNG) if given. Returns the figure.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(2, (len(metrics) + 1) // 2, figsize=(4 * ((len(metrics) + 1) // 2), 6.5))
    for ax, metric in zip(axes.flat, metrics):
        for split, style in (("train", "-"), ("validation", "--")):
            points = history.get(split, {}).get(metric)
            if points:
                epochs, values = zip(*points)
                ax.plot([e + 1 for e in epochs], values, style, label=split)
        ax.set_title(metric)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    if path:
        with atomic_path(path) as temp:
            fig.savefig(temp, dpi=80, format="png")
    return fig


# ---- matterport's inspection helpers (notebooks) -------------------------------------------------


def draw_box(image, box, color):
    """Draw a 1-pixel box outline (y1, x1, y2, x2; y2/x2 exclusive) of `color` into image in place; returns it."""
    y1, x1, y2, x2 = (int(v) for v in box)
    y2, x2 = max(y1, min(y2, image.shape[0]) - 1), max(x1, min(x2, image.shape[1]) - 1)
    image[y1, x1 : x2 + 1] = color
    image[y2, x1 : x2 + 1] = color
    image[y1 : y2 + 1, x1] = color
    image[y1 : y2 + 1, x2] = color
    return image


def draw_boxes(image, boxes=None, refined_boxes=None, masks=None, captions=None, visibilities=None, title="", ax=None):
    """matplotlib view of boxes (dashed), their refinements (solid, joined to the box), masks and captions.

    visibilities: per box 0 (skip), 1 (faint) or 2 (bold, the default). Returns the axes.
    """
    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.patches import Rectangle

    shown = boxes if boxes is not None else refined_boxes
    count = 0 if shown is None else len(shown)
    if ax is None:
        _, ax = plt.subplots(1, figsize=(12, 12))
    colors = random_colors(count)
    rgb = _as_rgb_uint8(image)
    ax.set_ylim(rgb.shape[0] + 10, -10)
    ax.set_xlim(-10, rgb.shape[1] + 10)
    ax.axis("off")
    ax.set_title(title)
    visibilities = [2] * count if visibilities is None else list(visibilities)
    for i in range(count):
        if not visibilities[i]:
            continue
        alpha, width = (1.0, 2) if visibilities[i] == 2 else (0.3, 1)
        if boxes is not None:
            y1, x1, y2, x2 = boxes[i]
            ax.add_patch(
                Rectangle(
                    (x1, y1),
                    x2 - x1,
                    y2 - y1,
                    linewidth=width,
                    alpha=alpha,
                    linestyle="dashed",
                    edgecolor=colors[i],
                    facecolor="none",
                )
            )
        if refined_boxes is not None:
            ry1, rx1, ry2, rx2 = refined_boxes[i]
            ax.add_patch(
                Rectangle((rx1, ry1), rx2 - rx1, ry2 - ry1, linewidth=2, edgecolor=colors[i], facecolor="none")
            )
            if boxes is not None:
                ax.add_line(Line2D([x1, rx1], [y1, ry1], color=colors[i]))
        if captions is not None:
            y, x = (refined_boxes if refined_boxes is not None else boxes)[i][:2]
            ax.text(x, y, captions[i], size=11, color="w", backgroundcolor="none")
        if masks is not None:
            rgb = apply_mask(rgb, np.asarray(masks)[:, :, i], colors[i])
            _contours(ax, np.asarray(masks)[:, :, i], colors[i])
    ax.imshow(rgb)
    return ax


def draw_rois(image, rois, refined_rois, mask, class_ids, class_names, limit=10):
    """Show up to `limit` random ROIs with their refinements and class names; prints the ROI counts.

    mask: matterport's [N, h, w] (one small mask per ROI, covering it, as inspect_data.ipynb passes the
    ROI mask targets) or full-size [H, W, N].
    """
    class_ids = np.asarray(class_ids)
    chosen = np.random.choice(len(rois), min(limit, len(rois)), replace=False) if len(rois) else np.zeros(0, int)
    visibilities = [2 if class_ids[i] else 1 for i in chosen]
    captions = [class_names[class_ids[i]] if class_ids[i] else "" for i in chosen]
    masks = None if mask is None or np.ndim(mask) != 3 else np.asarray(mask)
    if masks is not None and masks.shape[:2] == np.shape(image)[:2]:
        masks = masks[:, :, chosen]
    elif masks is not None:
        masks = paste_masks(masks[chosen], np.asarray(rois, np.float32)[chosen], np.shape(image))
    ax = draw_boxes(
        image,
        np.asarray(rois)[chosen],
        np.asarray(refined_rois)[chosen],
        masks,
        captions,
        visibilities,
        title=f"ROIs after refinement: {len(chosen)} shown of {len(rois)}",
    )
    positives = int((class_ids > 0).sum())
    print(f"Positive ROIs: {positives}, negative ROIs: {len(class_ids) - positives}")
    return ax


def display_table(table):
    """Render rows (lists of cells) as an HTML table; shown in IPython when available. Returns the HTML."""
    rows = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in table)
    html = f"<table>{rows}</table>"
    try:
        from IPython.display import HTML, display
    except ImportError:
        return html
    display(HTML(html))
    return html


def display_weight_stats(model):
    """Table of each weight's name, shape, min, max and std (a MaskRCNN or a keras.Model). Returns the rows."""
    keras_model = getattr(model, "keras_model", model)
    table = [["WEIGHT NAME", "SHAPE", "MIN", "MAX", "STD"]]
    for variable in keras_model.weights:
        values = np.asarray(variable)
        stats = (
            [f"{values.min():+9.4f}", f"{values.max():+10.4f}", f"{values.std():+9.4f}"] if values.size else [""] * 3
        )
        table.append([variable.path, str(values.shape)] + stats)
    display_table(table)
    return table


def display_differences(
    image,
    gt_box,
    gt_class_id,
    gt_mask,
    pred_box,
    pred_class_id,
    pred_score,
    pred_mask,
    class_names,
    title="",
    ax=None,
    show_mask=True,
    show_box=True,
    iou_threshold=0.5,
    score_threshold=0.5,
):
    """Ground truth (green) and predictions (red) on one image, each prediction captioned "score / IoU"."""
    from mrcnn.evaluation.metrics import compute_matches

    gt_match, pred_match, overlaps = compute_matches(
        gt_box,
        gt_class_id,
        gt_mask,
        pred_box,
        pred_class_id,
        pred_score,
        pred_mask,
        iou_threshold=iou_threshold,
        score_threshold=score_threshold,
    )
    gt_count, pred_count = len(gt_class_id), len(pred_class_id)
    colors = [(0, 1, 0, 0.8)] * gt_count + [(1, 0, 0, 1)] * pred_count
    best_iou = [overlaps[i].max() if overlaps.shape[1] else 0.0 for i in range(pred_count)]
    captions = [""] * gt_count + [f"{pred_score[i]:.2f} / {best_iou[i]:.2f}" for i in range(pred_count)]
    return display_instances(
        image,
        np.concatenate([np.reshape(gt_box, (-1, 4)), np.reshape(pred_box, (-1, 4))]),
        np.concatenate([gt_mask, pred_mask], axis=-1),
        np.concatenate([gt_class_id, pred_class_id]),
        class_names,
        np.concatenate([np.zeros(gt_count), pred_score]),
        title=title or "Ground Truth and Detections\nGT=green, pred=red, captions: score/IoU",
        ax=ax,
        show_mask=show_mask,
        show_bbox=show_box,
        colors=colors,
        captions=captions,
    )
