"""User errors that gave tracebacks: damaged weights metadata, unwritable --logs/--out (one line, exit 2)."""

import subprocess
import sys
from pathlib import Path

import h5py
import pytest
from tiny import TinyInferenceConfig

from mrcnn import model as modellib
from mrcnn.cli.sample import CommandError, writable_folder
from mrcnn.weights import h5

SCRIPT = Path(__file__).resolve().parents[1] / "samples" / "balloon" / "balloon.py"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "tiny.h5"
    modellib.MaskRCNN("inference", TinyInferenceConfig(), str(path.parent)).save_weights(str(path))
    return path


def damaged_copy(saved, tmp_path, damage):
    path = tmp_path / "damaged.h5"
    path.write_bytes(saved.read_bytes())
    with h5py.File(path, "a") as f:
        damage(f)
    return path


def _bad_config(f):
    f.attrs["mrcnn_config"] = "{not json"


def _config_not_a_dict(f):
    f.attrs["mrcnn_config"] = "[1, 2]"


def _missing_weight(f):
    name = next(n for n in f.attrs["layer_names"] if len(f[n].attrs.get("weight_names", [])))
    del f[name][f[name].attrs["weight_names"][0]]


def _missing_layer_group(f):
    name = next(n for n in f.attrs["layer_names"] if len(f[n].attrs.get("weight_names", [])))
    del f[name]


@pytest.mark.parametrize("damage", [_bad_config, _config_not_a_dict, _missing_weight, _missing_layer_group])
def test_damaged_file_gives_one_weights_file_error(saved, tmp_path, damage):
    path = damaged_copy(saved, tmp_path, damage)
    with pytest.raises(h5.WeightsFileError, match="damaged"):
        modellib.MaskRCNN.from_weights(str(path), str(tmp_path))


def test_sample_cli_reports_a_damaged_file_in_one_line(saved, tmp_path):
    path = damaged_copy(saved, tmp_path, _missing_weight)
    dataset = tmp_path / "data"
    command = [sys.executable, str(SCRIPT), "evaluate", "--dataset", str(dataset), "--weights", str(path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and "damaged" in result.stderr.strip().splitlines()[-1]


def test_writable_folder_refuses_a_file_and_a_read_only_folder(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(CommandError, match=r"--logs .*file: not a writable folder"):
        writable_folder(a_file, "--logs")
    assert writable_folder(tmp_path / "new" / "logs", "--logs") == tmp_path / "new" / "logs"
    assert not (tmp_path / "new").exists()  # nothing is created by the check
    with pytest.raises(CommandError, match="not a writable folder"):
        writable_folder(a_file / "below", "--logs")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        probe = read_only / "probe"
        try:  # root ignores permissions: then the check cannot be made here
            probe.write_text("")
            probe.unlink()
            pytest.skip("running as root: a read-only folder is writable")
        except PermissionError:
            pass
        with pytest.raises(CommandError, match="--out .*ro: not a writable folder"):
            writable_folder(read_only, "--out")
    finally:
        read_only.chmod(0o700)


def test_train_with_logs_on_a_file_exits_2_before_building(tmp_path):
    logs = tmp_path / "logs"
    logs.write_text("not a folder")
    command = [sys.executable, str(SCRIPT), "train", "--dataset", str(tmp_path), "--logs", str(logs)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--logs" in result.stderr and "not a writable folder" in result.stderr
    assert logs.read_text() == "not a folder"
