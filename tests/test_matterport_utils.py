"""matterport's mrcnn.utils names used by its sample scripts and notebooks (download, anchors, batch_slice)."""

import numpy as np
import pytest
from keras import ops

from mrcnn import utils
from mrcnn.weights import download


@pytest.fixture
def no_local_file(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "weights_search_dirs", lambda: [tmp_path / "weights"])
    monkeypatch.delenv("MRCNN_OFFLINE", raising=False)  # downloads on; each test fakes _fetch
    return tmp_path


def test_download_trained_weights_fetches_matterport_release(no_local_file, monkeypatch):
    fetched = []

    def fake_fetch(url, path):
        fetched.append(url)
        path.write_bytes(b"h5")

    monkeypatch.setattr(download, "_fetch", fake_fetch)
    target = no_local_file / "mask_rcnn_coco.h5"
    assert utils.download_trained_weights(str(target), verbose=0) == str(target)
    assert target.read_bytes() == b"h5" and fetched == [download.COCO_MODEL_URL]
    assert utils.download_trained_weights(str(target), verbose=0) == str(target) and len(fetched) == 1


def test_download_trained_weights_copies_a_local_file_first(no_local_file, monkeypatch):
    (no_local_file / "weights").mkdir()
    (no_local_file / "weights" / "mask_rcnn_coco.h5").write_bytes(b"local")
    monkeypatch.setattr(download, "_fetch", lambda url, path: pytest.fail("must not fetch"))
    target = no_local_file / "out" / "mask_rcnn_coco.h5"
    utils.download_trained_weights(str(target), verbose=0)
    assert target.read_bytes() == b"local"


def test_download_trained_weights_offline_says_what_and_where(no_local_file, monkeypatch):
    def offline(url, path):
        path.write_bytes(b"half")
        raise OSError("network unreachable")

    monkeypatch.setattr(download, "_fetch", offline)
    target = no_local_file / "mask_rcnn_coco.h5"
    with pytest.raises(FileNotFoundError, match="mask_rcnn_coco.h5 from https://github.com/matterport") as info:
        utils.download_trained_weights(str(target), verbose=0)
    assert str(target) in str(info.value) and "\n" not in str(info.value)
    assert not target.exists() and not list(no_local_file.glob("*.part"))


def test_batch_slice_stacks_per_image_results():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    y = np.ones((3, 4), np.float32)
    total = utils.batch_slice([x, y], lambda a, b: a + b, 3)
    np.testing.assert_allclose(ops.convert_to_numpy(total), x + 1)
    first, doubled = utils.batch_slice(x, lambda a: [a[:1], a * 2], 3)
    assert tuple(first.shape) == (3, 1) and np.allclose(ops.convert_to_numpy(doubled), x * 2)


def test_generate_pyramid_anchors_counts_as_matterport():
    anchors = utils.generate_pyramid_anchors((32, 64), [0.5, 1, 2], [(8, 8), (4, 4)], [4, 8], 2)
    assert anchors.shape == ((4 * 4 + 2 * 2) * 3, 4)
    np.testing.assert_allclose(anchors[4], [-16, -16 + 8, 16, 16 + 8])  # second cell at x = 2 * 4, ratio 1


def test_resize_accepts_skimage_keywords():
    from skimage.transform import resize as skimage_resize

    image = (np.arange(48, dtype=np.uint8).reshape(4, 4, 3) * 5).astype(np.uint8)
    plain = utils.resize(image, (8, 8))
    assert plain.dtype == np.uint8 and plain.shape == (8, 8, 3)
    kwargs = dict(order=0, mode="constant", cval=0, clip=True, preserve_range=True, anti_aliasing=False)
    np.testing.assert_array_equal(utils.resize(image, (8, 8), **kwargs), skimage_resize(image, (8, 8), **kwargs))
    with pytest.raises(TypeError, match="interp"):
        utils.resize(image, (8, 8), interp="bilinear")
