"""utils.download_trained_weights under MRCNN_OFFLINE=1: no network, one line saying where to put the file."""

import pytest

from mrcnn import utils
from mrcnn.weights import download


@pytest.fixture
def offline_without_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("MRCNN_OFFLINE", "1")
    monkeypatch.setattr(download, "weights_search_dirs", lambda: [tmp_path / "weights"])
    monkeypatch.setattr(download, "_fetch", lambda url, path: pytest.fail("must not fetch when offline"))
    return tmp_path


def test_offline_does_not_fetch_and_says_what_and_where(offline_without_local_file):
    target = offline_without_local_file / "mask_rcnn_coco.h5"
    with pytest.raises(FileNotFoundError, match=r"MRCNN_OFFLINE=1") as info:
        utils.download_trained_weights(str(target), verbose=0)
    message = str(info.value)
    assert "\n" not in message and str(target) in message and download.COCO_MODEL_URL in message
    assert not target.exists() and not list(offline_without_local_file.glob("*.part"))


def test_offline_still_copies_a_local_file(offline_without_local_file):
    (offline_without_local_file / "weights").mkdir()
    (offline_without_local_file / "weights" / "mask_rcnn_coco.h5").write_bytes(b"local")
    target = offline_without_local_file / "out" / "mask_rcnn_coco.h5"
    assert utils.download_trained_weights(str(target), verbose=0) == str(target)
    assert target.read_bytes() == b"local"
