"""Serving features (issue 19): /ready, /openapi.json, masks=rle|polygon|none, JPEG overlays, batches."""

import base64
import io

import numpy as np
import pytest
from mrcnn_api import create_app
from mrcnn_api.blueprint import MAX_BATCH_IMAGES
from mrcnn_api.results import encode_polygons
from mrcnn_api.testing import StubModel
from PIL import Image
from pycocotools import mask as mask_utils


def png(width=64, height=48, color=(20, 120, 220)):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


class BatchStub(StubModel):
    """Records the number of images of every detect() call."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def detect(self, images, verbose=0):
        self.batches.append(len(images))
        return super().detect(images, verbose)


@pytest.fixture
def stub():
    return BatchStub()


@pytest.fixture
def client(stub):
    return create_app({"MODEL": stub, "API_TOKEN": None}).test_client()


def post(client, query="", data=None):
    return client.post("/predict" + query, data=data or png(), content_type="image/png")


def multipart(client, images, query=""):
    parts = {"image": [(io.BytesIO(data), f"{i}.png") for i, data in enumerate(images)]}
    return client.post("/predict" + query, data=parts, content_type="multipart/form-data")


# ---------------------------------------------------------------- /ready, /health


def test_ready_once_the_model_answers(client, stub):
    response = client.get("/ready")
    assert response.status_code == 200 and response.get_json() == {"status": "ready"}
    assert stub.batches == [1]  # the readiness check ran one tiny detect()
    assert client.get("/health").get_json() == {"status": "ok"}


def test_ready_is_503_json_while_the_weights_cannot_load(tmp_path):
    app = create_app({"WEIGHTS": str(tmp_path / "missing.h5"), "LAZY_LOAD": True, "API_TOKEN": None})
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert body["code"] == 503 and "weights file not found" in body["error"]
    assert client.get("/health").status_code == 200  # liveness is not readiness


# ---------------------------------------------------------------- masks=


def test_masks_rle_is_the_default(client):
    instance = post(client).get_json()["instances"][0]
    decoded = mask_utils.decode([{"size": instance["mask"]["size"], "counts": instance["mask"]["counts"].encode()}])
    assert decoded.sum() == instance["area"] == 32 * 24 and "polygons" not in instance


def test_masks_none_leaves_the_masks_out(client):
    body = post(client, "?masks=none").get_json()
    assert [sorted(i) for i in body["instances"]] == [["area", "box", "class_id", "class_name", "score"]] * 2
    assert body["masked_percent"] == pytest.approx(43.75)


def test_masks_polygon_gives_the_outer_contour(client):
    instance = post(client, "?masks=polygon").get_json()["instances"][0]
    assert "mask" not in instance
    (polygon,) = instance["polygons"]  # the top-left quadrant: one part, 32 x 24 px
    xs, ys = zip(*polygon)
    assert (min(xs), max(xs), min(ys), max(ys)) == pytest.approx((0, 32, 0, 24), abs=0.5)
    assert 4 <= len(polygon) <= 8  # simplified: a rectangle with cut corners


def test_polygons_leave_out_holes_and_keep_every_part():
    masks = np.zeros((40, 60, 1), bool)
    masks[5:35, 5:25, 0] = True
    masks[15:25, 10:20, 0] = False  # a hole: not a polygon
    masks[10:20, 40:55, 0] = True  # a second part
    (parts,) = encode_polygons(masks, np.array([[0, 0, 40, 60]]))
    boxes = sorted(
        (min(x for x, _ in p), max(x for x, _ in p), min(y for _, y in p), max(y for _, y in p)) for p in parts
    )
    assert np.allclose(boxes, [(5, 25, 5, 35), (40, 55, 10, 20)], atol=0.5), boxes


def test_bad_option_values_are_400(client):
    for query in ("?masks=bitmap", "?overlay=gif", "?format=gif"):
        response = post(client, query)
        assert response.status_code == 400 and response.get_json()["code"] == 400, query


# ---------------------------------------------------------------- JPEG overlay


def test_jpeg_overlay_in_json_and_as_the_body(client):
    body = post(client, "?overlay=jpeg").get_json()
    assert "overlay_png" not in body
    assert Image.open(io.BytesIO(base64.b64decode(body["overlay_jpeg"]))).format == "JPEG"
    assert "overlay_png" not in post(client, "?overlay=none").get_json()
    response = post(client, "?format=jpeg")
    assert response.mimetype == "image/jpeg" and response.headers["X-Instances"] == "2"
    assert Image.open(io.BytesIO(response.data)).size == (64, 48)
    accepted = client.post("/predict", data=png(), content_type="image/png", headers={"Accept": "image/jpeg"})
    assert accepted.mimetype == "image/jpeg"


# ---------------------------------------------------------------- batches


def test_several_images_in_one_detect_call(client, stub):
    sizes = [(64, 48), (32, 32), (80, 20)]
    response = multipart(client, [png(w, h) for w, h in sizes], "?masks=none")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert [r["image_size"] for r in body["results"]] == [{"width": w, "height": h} for w, h in sizes]
    assert stub.batches == [3] and body["inference_ms"] >= 0


def test_batch_limit_and_single_image_formats(client, stub):
    response = multipart(client, [png()] * (MAX_BATCH_IMAGES + 1))
    assert response.status_code == 413 and f"limit is {MAX_BATCH_IMAGES}" in response.get_json()["error"]
    assert multipart(client, [png()] * 2, "?format=png").status_code == 400
    assert stub.batches == []


# ---------------------------------------------------------------- /openapi.json


def test_openapi_lists_every_route_and_real_replies_carry_the_documented_keys(client, stub):
    app = client.application
    doc = client.get("/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in doc["paths"][rule.rule], (rule.rule, method)
    schemas = doc["components"]["schemas"]

    def check(body, name):
        assert set(schemas[name]["required"]) <= set(body), name
        assert set(body) <= set(schemas[name]["properties"]), name

    check(client.get("/health").get_json(), "Status")
    check(client.get("/ready").get_json(), "Status")
    check(client.get("/model").get_json(), "Model")
    for query in ("", "?masks=polygon&overlay=jpeg"):
        prediction = post(client, query).get_json()
        check(prediction, "Prediction")
        for instance in prediction["instances"]:
            check(instance, "Instance")
    check(multipart(client, [png(), png()]).get_json(), "Batch")
    check(post(client, "?masks=bad").get_json(), "Error")
    documented = doc["paths"]["/predict"]["post"]["responses"]
    assert {"400", "413", "415", "422"} <= set(documented)
