"""ImageNet files: looked up locally, then fetched from keras.applications' folder (here: a local server)."""

import functools
import http.server
import socket
import threading

import pytest

from mrcnn.backbones import weights as weights_module

MOBILENET = "mobilenet_7_5_224_tf_no_top.h5"
RESNET = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"


@pytest.fixture
def empty_dirs(monkeypatch, tmp_path):
    dirs = [tmp_path / "env", tmp_path / "shared", tmp_path / "keras" / "models"]
    for folder in dirs:
        folder.mkdir(parents=True)
    monkeypatch.setenv("MRCNN_WEIGHTS_DIR", str(dirs[0]))
    monkeypatch.setattr(weights_module, "SHARED_WEIGHTS_DIR", dirs[1])
    monkeypatch.setattr(weights_module, "KERAS_CACHE_DIR", dirs[2])
    monkeypatch.delenv("MRCNN_OFFLINE")
    return dirs


@pytest.fixture
def release_server(monkeypatch, tmp_path):
    """A local HTTP server standing in for keras.applications' release folder."""
    root = tmp_path / "release"
    (root / "mobilenet").mkdir(parents=True)
    (root / "resnet").mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(weights_module, "APPLICATIONS_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    yield root
    server.shutdown()


def test_release_urls_are_keras_applications_folders():
    base = "https://storage.googleapis.com/tensorflow/keras-applications/"
    assert weights_module.release_url(MOBILENET) == base + "mobilenet/" + MOBILENET
    assert weights_module.release_url(RESNET) == base + "resnet/" + RESNET
    name = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"
    assert weights_module.release_url(name) == base + "mobilenet_v2/" + name
    assert weights_module.release_url("my_own.h5") is None


def test_a_local_file_wins_and_nothing_is_fetched(empty_dirs, monkeypatch):
    (empty_dirs[1] / MOBILENET).write_bytes(b"local")
    monkeypatch.setattr(weights_module, "download", lambda *a: pytest.fail("must not download"))
    assert weights_module.find_weights_file(MOBILENET) == empty_dirs[1] / MOBILENET


def test_missing_file_is_downloaded_into_the_keras_cache(empty_dirs, release_server):
    (release_server / "mobilenet" / MOBILENET).write_bytes(b"weights")
    path = weights_module.find_weights_file(MOBILENET)
    assert path == empty_dirs[2] / MOBILENET and path.read_bytes() == b"weights"


def test_a_corrupt_download_is_refused_and_removed(empty_dirs, release_server):
    (release_server / "resnet" / RESNET).write_bytes(b"not the published file")  # md5 differs
    with pytest.raises(FileNotFoundError, match=r"Could not download it from http://127\.0\.0\.1.*hash"):
        weights_module.find_weights_file(RESNET)
    assert not (empty_dirs[2] / RESNET).exists()


def test_offline_error_says_what_from_where_and_where_to_put_it(empty_dirs, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(weights_module, "APPLICATIONS_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(FileNotFoundError) as info:
        weights_module.find_weights_file(MOBILENET)
    message = str(info.value)
    assert f"http://127.0.0.1:{port}/mobilenet/{MOBILENET}" in message
    assert all(str(folder) in message for folder in empty_dirs) and "MRCNN_WEIGHTS_DIR" in message
    assert not (empty_dirs[2] / MOBILENET).exists()


def test_downloads_can_be_turned_off(empty_dirs, monkeypatch):
    monkeypatch.setenv("MRCNN_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="Downloads are off"):
        weights_module.find_weights_file(MOBILENET)
