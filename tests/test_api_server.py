"""The real waitress server (stub model, subprocess on 127.0.0.1, free port) over HTTP with urllib."""

import io
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mrcnn_api.testing import run_stub_server
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 20


def jpeg(width, height, color):
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="JPEG")
    return buffer.getvalue()


def multipart(field, filename, data, content_type="image/jpeg"):
    """(body, Content-Type header) of a multipart/form-data request with one file."""
    boundary = "----mrcnn-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def request(url, data=None, content_type=None, headers=None):
    """(status, headers, body bytes); HTTP errors are returned, not raised."""
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    if content_type:
        req.add_header("Content-Type", content_type)
    for name, value in (headers or {}).items():
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture(scope="module")
def server():
    with run_stub_server(threads=4, env={"MRCNN_API_TOKEN": ""}) as url:
        assert url.startswith("http://127.0.0.1:")
        yield url


def test_health_and_page(server):
    status, _, body = request(server + "health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, headers, body = request(server)
    assert status == 200 and headers.get_content_type() == "text/html" and b'id="file"' in body


def test_concurrent_predictions(server):
    """4 client threads x 3 requests each, images of different sizes; every answer matches its image."""

    def worker(index):
        results = []
        for j in range(3):
            width, height = 32 + 8 * index, 24 + 4 * j
            if j == 1:
                body, ctype = multipart("image", f"w{index}.jpg", jpeg(width, height, (index * 40, 90, 10)))
            else:
                body, ctype = jpeg(width, height, (index * 40, 90, 10)), "image/jpeg"
            status, _, payload = request(server + "predict", body, ctype)
            results.append((status, (width, height), json.loads(payload)))
        return results

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = [r for rs in pool.map(worker, range(4)) for r in rs]
    assert len(outcomes) == 12
    for status, (width, height), payload in outcomes:
        assert status == 200, payload
        assert payload["image_size"] == {"width": width, "height": height}
        assert len(payload["instances"]) == 2 and payload["total_pixels"] == width * height


def test_png_format_headers(server):
    status, headers, body = request(server + "predict?format=png", jpeg(64, 48, (0, 0, 200)), "image/jpeg")
    assert status == 200 and headers.get_content_type() == "image/png"
    assert Image.open(io.BytesIO(body)).size == (64, 48)
    assert float(headers["X-Masked-Percent"]) == pytest.approx(43.75)
    assert headers["X-Instances"] == "2"


def test_bad_requests_then_still_serving(server):
    for data, ctype, code in [
        (b"plain text", "text/plain", 415),
        (b"", "image/png", 400),
        (b"not an image at all", "image/png", 422),
        (jpeg(200, 200, (1, 2, 3))[:300], "image/jpeg", 422),
    ]:
        status, headers, body = request(server + "predict", data, ctype)
        assert status == code and headers.get_content_type() == "application/json"
        assert json.loads(body)["code"] == code
    status, _, body = request(server + "predict", b"\xff" * (10 * 1024 * 1024 + 1), "image/jpeg")
    assert status == 413 and json.loads(body)["code"] == 413
    status, _, body = request(server + "predict", jpeg(16, 16, (9, 9, 9)), "image/jpeg")
    assert status == 200 and json.loads(body)["image_size"] == {"width": 16, "height": 16}


def test_token_required_over_http():
    with run_stub_server(threads=2, env={"MRCNN_API_TOKEN": "tok-123"}) as url:
        status, headers, body = request(url + "model")
        assert status == 401 and json.loads(body)["code"] == 401
        status, _, body = request(url + "model", headers={"Authorization": "Bearer tok-123"})
        assert status == 200 and json.loads(body)["classes"] == ["BG", "balloon"]
        assert request(url + "health")[0] == 200


def test_cli_bad_weights_exit_code_2(tmp_path):
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"\x00" * 100)
    for path in (tmp_path / "missing.h5", corrupt):
        done = subprocess.run(
            [sys.executable, "-m", "api", "--weights", str(path), "--port", "0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2
        assert done.stderr.count("\n") == 1 and path.name in done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""


# ---------------------------------------------------------------- waitress limits (issue 19)


def raw_exchange(url, payload, timeout=TIMEOUT):
    """Send raw bytes to the server, read until it closes: (status, headers dict, body bytes)."""
    host, port = url.split("//")[1].strip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_oversized_body_refused_from_the_header(server):
    """A 100 MiB Content-Length gets a JSON 413 at once, with no body sent at all."""
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 104857600\r\n\r\n"
    status, headers, body = raw_exchange(server, head, timeout=5)
    assert status == 413 and headers["content-type"] == "application/json"
    assert json.loads(body) == {"error": "the request body is larger than the limit of 10485760 bytes", "code": 413}


@pytest.mark.parametrize("size", [100_000, 300_000])
def test_header_block_too_large_is_json_431(server, size):
    head = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'a' * size}\r\n\r\n".encode()
    status, headers, body = raw_exchange(server, head, timeout=5)
    assert status == 431 and headers["content-type"] == "application/json"
    assert json.loads(body)["code"] == 431 and "65536 bytes" in json.loads(body)["error"]


def open_idle(url, count):
    host, port = url.split("//")[1].strip("/").split(":")
    return [socket.create_connection((host, int(port)), timeout=5) for _ in range(count)]


def test_served_while_many_idle_connections_are_open(server):
    """120 idle connections (more than waitress's default limit of 100) do not lock clients out."""
    idle = open_idle(server, 120)
    try:
        status, _, body = request(server + "health")
        assert status == 200 and json.loads(body) == {"status": "ok"}
    finally:
        for sock in idle:
            sock.close()


def test_idle_connections_are_dropped_after_channel_timeout():
    """With --connection-limit 10, 20 idle sockets fill it; --channel-timeout 1 frees it for a client."""
    flags = ("--connection-limit", "10", "--channel-timeout", "1", "--cleanup-interval", "1")
    with run_stub_server(threads=2, env={"MRCNN_API_TOKEN": ""}, args=flags) as url:
        idle = open_idle(url, 20)
        try:
            start = time.monotonic()
            status, _, _ = request(url + "health")
            assert status == 200 and time.monotonic() - start < 10
            closed = sum(sock.recv(1) == b"" for sock in idle[:10])
            assert closed == 10  # the first ten were accepted, then closed as idle
        finally:
            for sock in idle:
                sock.close()


def test_cli_refuses_bad_server_flags():
    from mrcnn_api.__main__ import parse_args

    assert parse_args(["--connection-limit", "60", "--channel-timeout", "5"]).connection_limit == 60
    for flag in ("--connection-limit", "--channel-timeout", "--cleanup-interval", "--threads"):
        with pytest.raises(SystemExit):
            parse_args([flag, "0"])


def test_malformed_request_is_json_400(server):
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n"
    status, headers, body = raw_exchange(server, head, timeout=5)
    assert status == 400 and headers["content-type"] == "application/json" and json.loads(body)["code"] == 400
