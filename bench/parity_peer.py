#!/usr/bin/env python
"""The matterport side of bench/parity.py. Runs under the peer's venv (TF 2.15), with the port on sys.path.

    PEER_PYTHON bench/parity_peer.py --port DIR --backbone resnet101 --weights OUT.h5 --dump OUT.npz [--seed 0]
                                     [--image-hw 1024 1024]

Builds the port's inference model (81 classes, IMAGE 1024, square), gives it seeded random weights, writes them in
the port's own layout (keras_model.save_weights), molds the seeded test image with the port's mold_inputs, and
dumps the port's intermediate outputs for that molded input. Nothing of the port is copied here: it is imported.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# The random weights, beyond the port's own initialisers (the same numbers are written to the .h5, so both sides
# run them): BatchNorm statistics drawn around identity, so folding and the epsilon shift are exercised; box deltas
# scaled down so that refined boxes stay the size of their anchors.
DELTA_SCALE = 0.1


def feature_taps(backbone):
    """{stage: layer name} of C2..C5 and P2..P6: matterport's names, which mrcnn's graph uses too."""
    c4 = "res4w_out" if backbone == "resnet101" else "res4f_out"
    pyramid = {f"P{level}": f"fpn_p{level}" for level in range(2, 7)}
    return {"C2": "res2c_out", "C3": "res3d_out", "C4": c4, "C5": "res5c_out", **pyramid}


def test_image(seed, height=768, width=1024):
    """A seeded RGB uint8 image: smooth gradient, a few filled rectangles and discs, and noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack([yy * 200.0 / height, xx * 200.0 / width, np.full_like(yy, 90.0, dtype=float)], -1)
    for _ in range(12):
        y, x = rng.integers(0, height - 40), rng.integers(0, width - 40)
        h, w = rng.integers(30, 300), rng.integers(30, 300)
        colour = rng.integers(0, 256, 3)
        if rng.random() < 0.5:
            image[y : y + h, x : x + w] = colour
        else:
            inside = (yy - y) ** 2 / max(h, 1) ** 2 + (xx - x) ** 2 / max(w, 1) ** 2 < 1
            image[inside] = colour
    image += rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def randomise(keras_model, seed):
    rng = np.random.default_rng(seed + 1)
    for layer in keras_model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        kind = type(getattr(layer, "layer", layer)).__name__  # the wrapped layer of a TimeDistributed
        if kind in ("BatchNorm", "BatchNormalization") and len(weights) == 4:
            n = weights[0].shape
            weights = [
                rng.uniform(0.8, 1.2, n),
                rng.normal(0.0, 0.05, n),
                rng.normal(0.0, 0.05, n),
                rng.uniform(0.8, 1.25, n),
            ]
        elif layer.name == "mrcnn_bbox_fc":
            weights = [weights[0] * DELTA_SCALE, weights[1]]
        elif layer.name == "rpn_model":
            for sub in layer.layers:
                if sub.name == "rpn_bbox_pred":
                    sub.set_weights([w * DELTA_SCALE for w in sub.get_weights()])
            continue
        layer.set_weights([np.asarray(w, np.float32) for w in weights])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", required=True, help="directory holding the port's mrcnn package")
    parser.add_argument("--backbone", default="resnet101", choices=("resnet101", "resnet50"))
    parser.add_argument("--weights", required=True)
    parser.add_argument("--dump", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-hw", type=int, nargs=2, default=(1024, 1024), metavar=("H", "W"))
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.port))
    import tensorflow as tf

    from mrcnn import model as modellib
    from mrcnn.config import Config

    tf.compat.v1.set_random_seed(args.seed)
    np.random.seed(args.seed)

    class ParityConfig(Config):
        NAME = "parity"
        NUM_CLASSES = 81
        GPU_COUNT = 1
        IMAGES_PER_GPU = 1
        BACKBONE = args.backbone
        IMAGE_MIN_DIM = 800
        IMAGE_MAX_DIM = 1024
        DETECTION_MIN_CONFIDENCE = 0.0

    config = ParityConfig()
    model = modellib.MaskRCNN("inference", config, os.path.dirname(os.path.abspath(args.weights)))
    km = model.keras_model
    randomise(km, args.seed)
    km.save_weights(args.weights)

    image = test_image(args.seed, *args.image_hw)
    molded, metas, windows = model.mold_inputs([image])
    anchors = model.get_anchors(molded[0].shape)
    taps = {"conv1": "conv1", **feature_taps(args.backbone)}
    names = list(taps) + ["rpn_class", "rpn_bbox", "proposals", "mrcnn_class", "detections", "mrcnn_mask"]
    tensors = [km.get_layer(t).output for t in taps.values()]
    tensors += [km.outputs[5], km.outputs[6], km.outputs[4], km.outputs[1], km.outputs[0], km.outputs[3]]
    probe = tf.keras.models.Model(km.inputs, tensors)
    values = probe.predict([molded, metas, anchors[None]], verbose=0)
    out = {name: np.asarray(v[0]) for name, v in zip(names, values)}
    out.update(
        image=image,
        molded=molded[0],
        image_meta=metas[0],
        window=windows[0],
        anchors=anchors,
        mean_pixel=np.asarray(config.MEAN_PIXEL, np.float32),
    )
    np.savez_compressed(args.dump, **out)
    print(f"wrote {args.weights} and {args.dump}")


if __name__ == "__main__":
    main()
