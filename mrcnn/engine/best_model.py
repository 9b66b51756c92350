"""EvalCheckpoint: evaluate COCO AP on val during training and keep the best model (best.h5) and the last (last.h5).

    model.train(train_set, val_set, learning_rate, epochs, layers,
                custom_callbacks=[EvalCheckpoint(model, val_set, "runs/mine", every=5, patience=3)])

Every `every` epochs (and at the last epoch) the training weights are written to `out_dir/last.h5`, an inference
model is built from that file (its stored config, DETECTION_MIN_CONFIDENCE = `min_confidence`, as COCO AP wants)
and scored with pycocotools. `val_mask_AP`, `val_mask_AP50`, `val_box_AP` and `val_box_AP50` go into the epoch's
logs (so Keras' History has them), `best.h5` is replaced whenever the mask AP improves, and with `patience` training
stops after that many evaluations without improvement.
"""

import os
import shutil

import keras

from mrcnn.engine.atomic import atomic_path, write_json

METRICS = {"val_mask_AP": ("segm", "AP"), "val_mask_AP50": ("segm", "AP50"), "val_box_AP": ("bbox", "AP"),
           "val_box_AP50": ("bbox", "AP50")}  # fmt: skip


def coco_evaluation(min_confidence, limit=None):
    """evaluate(weights_path, dataset) -> evaluate_coco results, for an inference model built from the file."""

    def evaluate(weights_path, dataset):
        from mrcnn.evaluation.coco import evaluate_coco
        from mrcnn.model import MaskRCNN

        # float32 whatever the machine: the scores that pick best.h5 are the ones any machine reproduces.
        model = MaskRCNN.from_weights(
            weights_path, os.path.dirname(weights_path), DETECTION_MIN_CONFIDENCE=min_confidence, PRECISION="float32"
        )
        return evaluate_coco(model, dataset, limit=limit, verbose=False)

    return evaluate


class EvalCheckpoint(keras.callbacks.Callback):
    """Keep out_dir/best.h5 by val mask AP and out_dir/last.h5; see the module docstring.

    model: the training MaskRCNN. evaluate: (weights path, dataset) -> evaluate_coco-style results; the default
    builds an inference model from the file. The scores of every evaluation go to out_dir/val_ap.json.
    """

    def __init__(self, model, val_dataset, out_dir, every=1, patience=None, min_confidence=0.05, limit=None,
                 evaluate=None):  # fmt: skip
        super().__init__()
        if int(every) < 1 or (patience is not None and int(patience) < 1):
            raise ValueError(f"every and patience must be >= 1, got every={every}, patience={patience}")
        self.mrcnn, self.val_dataset, self.out_dir = model, val_dataset, str(out_dir)
        self.every, self.patience = int(every), patience
        self.evaluate = evaluate or coco_evaluation(min_confidence, limit)
        self.best, self.best_epoch, self.waited, self.scores, self.stopped = None, None, 0, [], False
        self.best_results = None  # the full evaluate_coco results of best.h5

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        last_epoch = epoch + 1 == (self.params or {}).get("epochs")
        if (epoch + 1) % self.every and not last_epoch:
            return
        last = f"{self.out_dir}/last.h5"
        self.mrcnn.save_weights(last)
        results = self.evaluate(last, self.val_dataset)
        scores = {name: float(results[kind][stat]) for name, (kind, stat) in METRICS.items()}
        logs.update(scores)
        self.scores.append({"epoch": epoch + 1, **scores})
        if self.best is None or scores["val_mask_AP"] > self.best:
            self.best, self.best_epoch, self.waited = scores["val_mask_AP"], epoch + 1, 0
            self.best_results = results
            with atomic_path(f"{self.out_dir}/best.h5") as temp:
                shutil.copyfile(last, temp)
        else:
            self.waited += 1
            if self.patience and self.waited >= self.patience and self.model is not None:
                self.model.stop_training = self.stopped = True
        write_json(f"{self.out_dir}/val_ap.json", {"best_epoch": self.best_epoch, "evaluations": self.scores})
