"""Write files atomically: to a temp file beside the target, then rename, so no reader ever sees
a half-written file and a failure leaves the old file (if any) in place."""

import contextlib
import json
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, mode=0o644):
    """Yield a temp path in the target's folder; on success it becomes `path` (with `mode`)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = os.path.splitext(path)[1]
    handle, temp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    os.close(handle)
    try:
        yield temp
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def write_json(path, data, default=None):
    """Write `data` as indented JSON to `path` atomically; `default` as in json.dump (None: unknown types raise)."""
    with atomic_path(path) as temp, open(temp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, default=default)
        f.write("\n")
