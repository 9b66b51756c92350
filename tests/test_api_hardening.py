"""Hardening of the HTTP API against hostile input (issue 19), on the stub model (no TensorFlow)."""

import io

import pytest
from mrcnn_api import create_app
from mrcnn_api.testing import StubModel
from PIL import Image

from mrcnn.inference.mold import ImageError, check_image


def png(width, height):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


class CheckingStub(StubModel):
    """A stub that refuses images as the real model does (mold.check_image), plus `refuse` sizes."""

    def __init__(self, refuse=()):
        super().__init__()
        self.refuse = set(refuse)

    def detect(self, images, verbose=0):
        for image in images:
            check_image(image)
            if image.shape[:2] in self.refuse:
                raise ImageError(f"image is too small ({image.shape[0]}x{image.shape[1]})")
        return super().detect(images, verbose)


@pytest.fixture
def client():
    return create_app({"MODEL": CheckingStub(refuse={(3, 3)}), "API_TOKEN": None}).test_client()


@pytest.mark.parametrize("size", [(1, 1), (5000, 1), (1, 300)])
def test_side_under_two_pixels_is_422_with_the_limit(client, size):
    response = client.post("/predict", data=png(*size), content_type="image/png")
    assert response.status_code == 422, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 422 and "at least 2 pixels" in body["error"]


def test_two_pixel_sides_are_served(client):
    response = client.post("/predict", data=png(2, 2), content_type="image/png")
    assert response.status_code == 200 and response.get_json()["image_size"] == {"width": 2, "height": 2}


def test_model_size_error_is_422_not_500(client):
    response = client.post("/predict", data=png(3, 3), content_type="image/png")
    assert response.status_code == 422 and "model refused" in response.get_json()["error"]


class Unreadable(io.RawIOBase):
    def readable(self):
        return True

    def readinto(self, buffer):
        raise AssertionError("the body was read before the 413")


def test_oversized_content_length_refused_before_reading(client):
    environ = {"CONTENT_LENGTH": str(50 * 1024 * 1024), "CONTENT_TYPE": "image/jpeg", "wsgi.input": Unreadable()}
    response = client.post("/predict", environ_overrides=environ)
    assert response.status_code == 413
    assert response.get_json()["error"] == "the request body has 52428800 bytes; the limit is 10485760 bytes"


def test_waitress_limits_follow_the_app_config():
    from mrcnn_api.server import make_server

    app = create_app({"MODEL": StubModel(), "MAX_CONTENT_LENGTH": 1000, "MAX_HEADER_BYTES": 2048})
    server = make_server(app, port=0, connection_limit=60)
    try:
        assert (server.adj.max_request_body_size, server.adj.max_request_header_size) == (1001, 2048)
        assert (server.adj.connection_limit, server.adj.channel_timeout) == (60, 30)
    finally:
        server.close()


def test_response_memory_is_bounded_for_many_detections_on_a_large_image():
    """40 instances on a 2000 x 1500 image: building the reply costs < 16 bytes per pixel, not N planes."""
    import tracemalloc

    import numpy as np
    from mrcnn_api.results import OVERLAY_MAX_PIXELS, build_response

    height, width, count = 1500, 2000, 40
    image = np.full((height, width, 3), 120, np.uint8)
    masks = np.zeros((height, width, count), bool)
    boxes = np.array([(i * 30, i * 40, i * 30 + 300, i * 40 + 400) for i in range(count)], np.int32)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1:y2, x1:x2, i] = True
    result = {
        "rois": boxes,
        "class_ids": np.ones(count, np.int32),
        "scores": np.linspace(1, 0.5, count),
        "masks": masks,
    }
    tracemalloc.start()
    try:
        body, png = build_response(image, result, ["BG", "thing"], 1.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(body["instances"]) == count and body["instances"][5]["area"] == 300 * 400
    assert Image.open(io.BytesIO(png)).size[0] * Image.open(io.BytesIO(png)).size[1] <= OVERLAY_MAX_PIXELS
    plane = height * width
    assert peak < 16 * plane, f"peak {peak / 1e6:.0f} MB for a {plane / 1e6:.1f} MP image with {count} masks"
