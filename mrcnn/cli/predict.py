"""`mrcnn predict WEIGHTS IMAGE_OR_FOLDER... --out DIR --format overlay|splash|json|coco`.

overlay: DIR/<stem>_overlay.jpg (masks, boxes, labels); splash: DIR/<stem>_splash.jpg; json: DIR/<stem>.json (boxes,
scores, classes, RLE masks); coco: DIR/coco_results.json, a COCO results list that pycocotools' `loadRes` reads. Its
image ids are the file names when they all are numbers (COCO's 000000123456.jpg is image 123456), else 1, 2, ... in
the order listed in DIR/image_ids.json. Its category ids are the model's class ids 1..K (the order `mrcnn train`
gave the classes), or, with `--categories COCO_JSON`, the ids that file gives the same class names (a COCO file's
category ids need not be 1..K: frisbee is 34 in COCO).
A file that cannot be read is reported and skipped; the exit code is then 1.
"""

import json
from pathlib import Path

from mrcnn.cli.common import CommandError, writable_folder
from mrcnn.engine.atomic import write_json
from mrcnn.inference import outputs

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif")


def image_files(inputs):
    """The image files named or held (not recursively) by `inputs`, in order; CommandError for a missing path."""
    files = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file():
            files.append(path)
        else:
            raise CommandError(f"{name}: no such file or folder")
    if not files:
        raise CommandError(f"no images in {', '.join(inputs)} (looked for {', '.join(IMAGE_SUFFIXES)})")
    stems = [p.stem for p in files]
    clashes = sorted({s for s in stems if stems.count(s) > 1})
    if clashes:
        raise CommandError(f"several inputs are named {clashes[0]!r}; their outputs would overwrite each other")
    return files


def image_ids(files):
    """COCO image ids: the file names if all are integers, else 1..N."""
    if all(p.stem.isdigit() for p in files):
        return [int(p.stem) for p in files]
    return list(range(1, len(files) + 1))


def _overlay(model, path, image, result, out):
    outputs.write_overlay(model, image, result, out / f"{path.stem}_overlay.jpg")


def _splash(model, path, image, result, out):
    outputs.write_splash(image, result, out / f"{path.stem}_splash.jpg")


def _json(model, path, image, result, out):
    outputs.write_json(outputs.instances_json(model, path, result), out / f"{path.stem}.json")


WRITERS = {"overlay": _overlay, "splash": _splash, "json": _json}  # per image; "coco" collects one file


def run_predict(args):
    from mrcnn.cli.own_data import inference_model
    from mrcnn.data.errors import DatasetError
    from mrcnn.data.images import read_image
    from mrcnn.evaluation.coco import detections_to_coco

    if args.categories and args.format != "coco":
        raise CommandError("--categories only applies to --format coco")
    files = image_files(args.inputs)
    out = writable_folder(args.out, "--out")
    model = inference_model(args.weights, args.min_confidence)
    categories = category_map(args.categories, outputs.class_names_of(model)) if args.categories else None
    ids, coco, failed = image_ids(files), [], 0
    for path, image_id in zip(files, ids):
        try:
            image = read_image(str(path))
        except DatasetError as err:
            print(f"skipped: {err}")
            failed += 1
            continue
        result = model.detect([image])[0]
        if args.format == "coco":
            coco += detections_to_coco(image_id, result, categories)
        else:
            WRITERS[args.format](model, path, image, result, out)
        print(f"{path}: {len(result['class_ids'])} instance(s)")
    if args.format == "coco":
        write_json(out / "coco_results.json", coco)
        if not all(p.stem.isdigit() for p in files):
            write_json(out / "image_ids.json", {str(i): str(p) for i, p in zip(ids, files)})
    print(f"Wrote {args.format} output of {len(files) - failed} image(s) to {out}")
    if failed:
        raise PartialFailure(f"{failed} of {len(files)} image(s) could not be read and were skipped")


def category_map(path, class_names):
    """{class id: category id} from the categories of a COCO json, matched by name; CommandError if one is missing."""
    try:
        categories = json.loads(Path(path).read_text())["categories"]
        by_name = {c["name"]: int(c["id"]) for c in categories}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CommandError(f"--categories {path}: not a COCO json with a categories list ({err})") from None
    missing = [name for name in class_names[1:] if name not in by_name]
    if missing:
        raise CommandError(
            f"--categories {path}: no category named {missing[0]!r}; the file has: {', '.join(sorted(by_name))}"
        )
    return {i: by_name[name] for i, name in enumerate(class_names) if i > 0}


class PartialFailure(Exception):
    """Some inputs were skipped: the others were written; exit code 1."""
