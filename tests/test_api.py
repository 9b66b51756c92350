"""Flask test-client tests of the HTTP API on a stub model (no TensorFlow)."""

import base64
import io
import itertools
import struct
import sys
import threading
import types
import zlib
from pathlib import Path

import numpy as np
import pytest
from flask import Flask
from mrcnn_api import Predictor, WeightsError, create_app, create_blueprint
from mrcnn_api.__main__ import main as cli_main
from mrcnn_api.errors import ApiError
from mrcnn_api.imageio import decode_image
from mrcnn_api.testing import StubModel
from PIL import Image
from pycocotools import mask as mask_utils

BALLOON_PHOTO = (
    Path(__file__).resolve().parents[2] / "shared" / "datasets" / "balloon" / "val" / "3825919971_93fb1ec581_b.jpg"
)

# ---------------------------------------------------------------- helpers


def encode(image, fmt, **params):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def rgb_image(width=64, height=48):
    """A colourful test image (gradient), sides divisible by 4."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2))


def jpeg_bytes(width=64, height=48):
    return encode(rgb_image(width, height), "JPEG", quality=90)


def png16_rgb_bytes(width, height, value):
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one), every sample = value."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" + struct.pack(">H", value) * (3 * width)
    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def post_multipart(client, data, filename="upload.bin", query=""):
    return client.post(
        "/predict" + query, data={"image": (io.BytesIO(data), filename)}, content_type="multipart/form-data"
    )


def post_raw(client, data, content_type="image/jpeg", query="", headers=None):
    return client.post("/predict" + query, data=data, content_type=content_type, headers=headers or {})


def assert_json_error(response, code):
    assert response.status_code == code, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == code
    assert isinstance(body["error"], str) and body["error"]
    return body


@pytest.fixture
def stub():
    return StubModel()


@pytest.fixture
def client(stub, monkeypatch):
    monkeypatch.delenv("MRCNN_API_TOKEN", raising=False)
    return create_app({"MODEL": stub}).test_client()


# ---------------------------------------------------------------- routes


def test_health_and_page(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'id="file"' in html and 'id="overlay"' in html and '"/predict"' in html
    assert 'src="http' not in html and 'href="http' not in html and "<script src" not in html  # self-contained


def test_model_info(client):
    info = client.get("/model").get_json()
    assert info["backbone"] == "mobilenet_v1"
    assert info["classes"] == ["BG", "balloon"]
    assert info["weights_file"] is None and info["weights_sha256"] is None
    assert info["config"]["NUM_CLASSES"] == 2 and info["config"]["DETECTION_MIN_CONFIDENCE"] == 0.7


@pytest.fixture
def clock(monkeypatch):
    """perf_counter steps 12.5 ms per call, so a timed detect() takes exactly 12.5 ms."""
    ticks = itertools.count(100.0, 0.0125)
    fake = types.SimpleNamespace(perf_counter=lambda: next(ticks))
    monkeypatch.setattr("mrcnn_api.predictor.time", fake)


def test_predict_multipart_json_schema(client, stub, clock):
    response = post_multipart(client, jpeg_bytes(64, 48), "photo.jpg")
    assert response.status_code == 200
    body = response.get_json()
    assert body["image_size"] == {"width": 64, "height": 48}
    assert [i["score"] for i in body["instances"]] == [0.9, 0.6]
    first = body["instances"][0]
    assert first["class_id"] == 1 and first["class_name"] == "balloon"
    assert first["box"] == {"x1": 0, "y1": 0, "x2": 32, "y2": 24}
    assert first["area"] == 32 * 24
    rle = dict(first["mask"], counts=first["mask"]["counts"].encode())
    decoded = mask_utils.decode([rle])[:, :, 0]
    assert decoded.shape == (48, 64) and decoded[:24, :32].all() and decoded.sum() == 32 * 24
    # Union of the two overlapping squares: 1/4 + 1/4 - 1/16 of the image.
    assert body["total_pixels"] == 64 * 48
    assert body["masked_pixels"] == 64 * 48 * 7 // 16
    assert body["masked_percent"] == 43.75 and body["unmasked_percent"] == 56.25
    assert body["inference_ms"] == pytest.approx(12.5, abs=0.05)
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert overlay.format == "PNG" and overlay.size == (64, 48)
    assert stub.calls == 1


def test_predict_raw_body(client):
    response = post_raw(client, encode(rgb_image(40, 20), "PNG"), "image/png")
    assert response.status_code == 200
    assert response.get_json()["image_size"] == {"width": 40, "height": 20}


@pytest.mark.parametrize("how", ["query", "accept"])
def test_predict_png_response(client, how, clock):
    if how == "query":
        response = post_raw(client, jpeg_bytes(), query="?format=png")
    else:
        response = post_raw(client, jpeg_bytes(), headers={"Accept": "image/png"})
    assert response.status_code == 200 and response.mimetype == "image/png"
    assert Image.open(io.BytesIO(response.data)).size == (64, 48)
    assert float(response.headers["X-Masked-Percent"]) == pytest.approx(43.75)
    assert float(response.headers["X-Unmasked-Percent"]) == pytest.approx(56.25)
    assert response.headers["X-Instances"] == "2"
    assert response.headers["X-Inference-Ms"] == "12.5"


def test_accept_any_gives_json(client):
    response = post_raw(client, jpeg_bytes(), headers={"Accept": "*/*"})
    assert response.mimetype == "application/json" and "overlay_png" in response.get_json()


def test_score_threshold_filters_instances(client):
    body = post_raw(client, jpeg_bytes(), query="?score_threshold=0.7").get_json()
    assert [i["score"] for i in body["instances"]] == [0.9]
    assert body["masked_percent"] == 25.0
    body = post_raw(client, jpeg_bytes(), query="?score_threshold=1").get_json()
    assert body["instances"] == [] and body["masked_pixels"] == 0 and body["unmasked_percent"] == 100.0


@pytest.mark.parametrize("value", ["abc", "-0.1", "1.5", "nan", "inf"])
def test_bad_score_threshold(client, value):
    body = assert_json_error(post_raw(client, jpeg_bytes(), query=f"?score_threshold={value}"), 400)
    assert "score_threshold" in body["error"]


def test_bad_format(client):
    assert "format" in assert_json_error(post_raw(client, jpeg_bytes(), query="?format=gif"), 400)["error"]


# ---------------------------------------------------------------- bad input


def test_no_file_field(client):
    response = client.post("/predict", data={"other": "x"}, content_type="multipart/form-data")
    assert "'image'" in assert_json_error(response, 400)["error"]


def test_empty_upload_and_body(client):
    assert_json_error(post_multipart(client, b"", "empty.jpg"), 400)
    assert_json_error(post_raw(client, b"", "image/jpeg"), 400)
    assert_json_error(client.post("/predict"), 400)


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", "application/pdf", "image/svg+xml"])
def test_wrong_content_type(client, content_type):
    body = assert_json_error(post_raw(client, jpeg_bytes(), content_type), 415)
    assert content_type in body["error"]


def test_body_without_content_type(client):
    response = client.post("/predict", data=jpeg_bytes(), headers={"Content-Type": ""})
    assert_json_error(response, 415)


def test_not_an_image(client):
    assert "not an image" in assert_json_error(post_raw(client, b"hello, world" * 10, "image/png"), 422)["error"]
    assert_json_error(post_multipart(client, b"%PDF-1.4 not really", "doc.pdf"), 422)


def test_format_outside_allow_list(client):
    ppm = encode(rgb_image(), "PPM")  # Pillow reads PPM, the API does not
    assert_json_error(post_raw(client, ppm, "image/png"), 422)


def test_truncated_jpeg(client):
    data = jpeg_bytes(256, 256)
    body = assert_json_error(post_raw(client, data[: len(data) // 2]), 422)
    assert "truncated" in body["error"] or "decode" in body["error"]
    assert post_raw(client, data).status_code == 200  # still serving


def test_body_too_large(stub):
    client = create_app({"MODEL": stub, "MAX_CONTENT_LENGTH": 1000}).test_client()
    assert_json_error(post_raw(client, b"\xff" * 5000), 413)
    assert_json_error(post_multipart(client, b"\xff" * 5000), 413)
    assert create_app({"MODEL": stub}).config["MAX_CONTENT_LENGTH"] == 10 * 1024 * 1024


def test_pixel_limit(stub):
    client = create_app({"MODEL": stub, "MAX_PIXELS": 1000}).test_client()
    body = assert_json_error(post_raw(client, jpeg_bytes(64, 48)), 413)
    assert "3072" in body["error"] and "1000" in body["error"]
    assert stub.calls == 0


def test_decompression_bomb(client, stub):
    bomb = encode(Image.new("1", (10000, 10000)), "PNG")
    assert len(bomb) < 100_000  # tiny on disk, 100 MP decoded
    assert_json_error(post_raw(client, bomb, "image/png"), 413)
    assert_json_error(post_multipart(client, bomb, "bomb.png"), 413)
    assert stub.calls == 0


def test_pixel_limit_below_pillow_bomb_threshold(client):
    big = encode(Image.new("L", (6000, 5000)), "PNG")  # 30 MP > 25 MP default, < Pillow's 89 MP
    assert "limit" in assert_json_error(post_raw(client, big, "image/png"), 413)["error"]


def test_json_404_405(client):
    assert_json_error(client.get("/nowhere"), 404)
    response = client.get("/predict")
    assert_json_error(response, 405)
    assert "POST" in response.headers["Allow"]


def test_model_failure_is_json_500_and_server_recovers(stub):
    calls = {"n": 0}
    original = stub.detect

    def flaky(images, verbose=0):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        return original(images, verbose)

    stub.detect = flaky
    client = create_app({"MODEL": stub}).test_client()
    body = assert_json_error(post_raw(client, jpeg_bytes()), 500)
    assert "boom" not in body["error"]  # no internals leak
    assert post_raw(client, jpeg_bytes()).status_code == 200


# ---------------------------------------------------------------- image modes


@pytest.mark.parametrize(
    "fmt,mode,mime",
    [
        ("PNG", "L", "image/png"),
        ("PNG", "LA", "image/png"),
        ("PNG", "RGBA", "image/png"),
        ("PNG", "P", "image/png"),
        ("PNG", "1", "image/png"),
        ("PNG", "I;16", "image/png"),
        ("JPEG", "CMYK", "image/jpeg"),
        ("JPEG", "L", "image/jpeg"),
        ("GIF", "P", "image/gif"),
        ("BMP", "RGB", "image/bmp"),
        ("TIFF", "RGB", "image/tiff"),
        ("TIFF", "CMYK", "image/tiff"),
        ("WEBP", "RGB", "image/webp"),
        ("WEBP", "RGBA", "image/webp"),
    ],
)
def test_modes_and_formats_accepted(client, fmt, mode, mime):
    image = rgb_image(40, 28).convert(mode) if mode not in ("I;16", "1") else Image.new(mode, (40, 28), 200)
    response = post_raw(client, encode(image, fmt), mime)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["image_size"] == {"width": 40, "height": 28}


def test_decode_converts_to_rgb_values():
    gray16 = Image.new("I;16", (3, 2), 65535)
    assert (decode_image(encode(gray16, "PNG")) == 255).all()
    rgb16 = decode_image(png16_rgb_bytes(5, 4, 0x8000))
    assert rgb16.shape == (4, 5, 3) and rgb16.dtype == np.uint8 and (rgb16 == 128).all()
    transparent = decode_image(encode(Image.new("RGBA", (4, 4), (0, 0, 0, 0)), "PNG"))
    assert (transparent == 255).all()  # composited on white
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    assert (decode_image(encode(palette, "PNG"))[0, 0] == [10, 20, 30]).all()
    cmyk = decode_image(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG", quality=100))
    assert cmyk.shape == (8, 8, 3) and cmyk[0, 0, 0] > 200 and cmyk[0, 0, 1] < 60  # red


def test_16bit_rgb_png_endpoint(client):
    response = post_raw(client, png16_rgb_bytes(20, 12, 0xFFFF), "image/png")
    assert response.status_code == 200 and response.get_json()["image_size"] == {"width": 20, "height": 12}


def test_exif_orientation_applied(client):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    data = encode(rgb_image(40, 20), "JPEG", exif=exif.tobytes())
    assert Image.open(io.BytesIO(data)).size == (40, 20)
    body = post_raw(client, data).get_json()
    assert body["image_size"] == {"width": 20, "height": 40}
    assert body["instances"][0]["mask"]["size"] == [40, 20]


def test_decode_errors_are_api_errors():
    with pytest.raises(ApiError) as error:
        decode_image(b"")
    assert error.value.code == 400
    with pytest.raises(ApiError) as error:
        decode_image(b"GIF89a" + b"\x00" * 3)
    assert error.value.code == 422


# ---------------------------------------------------------------- auth


def test_token_from_config(stub, monkeypatch):
    monkeypatch.delenv("MRCNN_API_TOKEN", raising=False)
    client = create_app({"MODEL": stub, "API_TOKEN": "s3cret"}).test_client()
    response = post_raw(client, jpeg_bytes())
    assert_json_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_json_error(post_raw(client, jpeg_bytes(), headers={"Authorization": "Bearer wrong"}), 401)
    assert_json_error(post_raw(client, jpeg_bytes(), headers={"Authorization": "Basic s3cret"}), 401)
    assert_json_error(client.get("/model"), 401)
    assert stub.calls == 0
    ok = {"Authorization": "Bearer s3cret"}
    assert post_raw(client, jpeg_bytes(), headers=ok).status_code == 200
    assert client.get("/model", headers=ok).status_code == 200
    assert client.get("/health").status_code == 200 and client.get("/").status_code == 200


def test_token_from_env(stub, monkeypatch):
    monkeypatch.setenv("MRCNN_API_TOKEN", "from-env")
    client = create_app({"MODEL": stub}).test_client()
    assert_json_error(client.get("/model"), 401)
    assert client.get("/model", headers={"Authorization": "Bearer from-env"}).status_code == 200


# ---------------------------------------------------------------- blueprint, predictor, CLI


def test_blueprint_mounts_on_any_app(stub, monkeypatch):
    monkeypatch.delenv("MRCNN_API_TOKEN", raising=False)
    app = Flask("host")
    app.register_blueprint(create_blueprint(Predictor(stub)), url_prefix="/mrcnn")
    client = app.test_client()
    assert client.get("/mrcnn/health").get_json() == {"status": "ok"}
    assert '"/mrcnn/predict"' in client.get("/mrcnn/").get_data(as_text=True)
    assert client.post("/mrcnn/predict", data=jpeg_bytes(), content_type="image/jpeg").status_code == 200
    # The host app has no MAX_CONTENT_LENGTH: the blueprint still enforces its 10 MB default.
    big = client.post("/mrcnn/predict", data=b"\xff" * (10 * 1024 * 1024 + 1), content_type="image/jpeg")
    assert_json_error(big, 413)


def test_predictor_lock_serialises_detect():
    stub = StubModel(delay=0.02)
    predictor = Predictor(stub)
    image = np.zeros((8, 8, 3), np.uint8)
    threads = [threading.Thread(target=predictor.detect, args=(image,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert stub.calls == 4 and stub.max_concurrent == 1


def test_predictor_rejects_non_model():
    with pytest.raises(TypeError):
        Predictor(object())


@pytest.fixture
def fake_mrcnn_model(monkeypatch):
    """Replace mrcnn.model by a module whose MaskRCNN.from_weights returns a stub (no TensorFlow)."""
    loaded = []

    class FakeMaskRCNN:
        @staticmethod
        def from_weights(path):
            loaded.append(path)
            if "broken" in path:
                raise KeyError("no 'mrcnn_config' attribute")
            return StubModel()

    module = types.ModuleType("mrcnn.model")
    module.MaskRCNN = FakeMaskRCNN
    monkeypatch.setitem(sys.modules, "mrcnn.model", module)
    return loaded


def make_h5(path):
    import h5py

    with h5py.File(path, "w") as handle:
        handle.attrs["note"] = "test"
    return path


def test_predictor_from_weights(tmp_path, fake_mrcnn_model):
    import hashlib

    weights = make_h5(tmp_path / "tiny.h5")
    predictor = Predictor(weights, lazy=True)
    assert fake_mrcnn_model == []  # lazy: nothing loaded yet
    client = create_app(predictor=predictor).test_client()
    info = client.get("/model").get_json()
    assert fake_mrcnn_model == [str(weights)]
    assert info["weights_file"] == "tiny.h5"
    assert info["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    post_raw(client, jpeg_bytes())
    assert len(fake_mrcnn_model) == 1  # loaded once


def test_weights_errors(tmp_path, fake_mrcnn_model):
    with pytest.raises(WeightsError, match="not found"):
        create_app({"WEIGHTS": str(tmp_path / "missing.h5")})
    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"this is not hdf5" * 10)
    with pytest.raises(WeightsError, match="not an HDF5"):
        Predictor(garbage)
    with pytest.raises(WeightsError, match="cannot load weights .*broken.h5"):
        Predictor(make_h5(tmp_path / "broken.h5"))
    lazy = create_app({"WEIGHTS": str(tmp_path / "missing.h5"), "LAZY_LOAD": True}).test_client()
    assert_json_error(lazy.get("/model"), 503)


def test_cli_missing_weights_exit_2(tmp_path, capsys):
    assert cli_main(["--weights", str(tmp_path / "nope.h5"), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope.h5" in err and "Traceback" not in err


@pytest.mark.slow
def test_real_model_end_to_end(monkeypatch):
    """The bundled balloon model, served through create_app, finds the balloons of a val photo."""
    pytest.importorskip("tensorflow")
    if not BALLOON_PHOTO.exists():
        pytest.skip(f"balloon val photo not found: {BALLOON_PHOTO}")
    monkeypatch.delenv("MRCNN_API_TOKEN", raising=False)
    client = create_app({}).test_client()  # default WEIGHTS: the bundled model
    assert client.get("/model").get_json()["classes"] == ["BG", "balloon"]
    body = post_raw(client, BALLOON_PHOTO.read_bytes()).get_json()
    width, height = Image.open(BALLOON_PHOTO).size
    assert body["image_size"] == {"width": width, "height": height}
    assert len(body["instances"]) >= 1  # the photo shows balloons; zero detections is a failure
    union = np.zeros((height, width), bool)
    for instance in body["instances"]:
        box = instance["box"]
        assert 0 <= box["x1"] < box["x2"] <= width and 0 <= box["y1"] < box["y2"] <= height
        assert instance["class_name"] == "balloon" and 0 < instance["score"] <= 1
        union |= mask_utils.decode([dict(instance["mask"], counts=instance["mask"]["counts"].encode())])[:, :, 0] > 0
    assert body["masked_pixels"] == int(union.sum()) > 0
