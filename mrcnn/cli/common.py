"""What the `mrcnn` command and the sample CLIs share: the user-error type and argument checks."""

import argparse
import ast
import tempfile
from pathlib import Path


class CommandError(Exception):
    """A user error: printed as one line, exit code 2."""


def parse_setting(text):
    """'KEY=VALUE' from --set as (KEY, value); VALUE is a Python literal, else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isupper():
        raise argparse.ArgumentTypeError(f"--set {text!r}: use KEY=VALUE with an upper-case Config attribute")
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def parse_sizes(text):
    """'512,1024' from --sizes as [512, 1024]."""
    try:
        sizes = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes {text!r}: use comma-separated sizes, e.g. 512,1024") from None
    if any(v < 64 or v % 64 for v in sizes):
        raise argparse.ArgumentTypeError(f"--sizes {text!r}: each size must be a multiple of 64")
    return sizes


def writable_folder(path, flag):
    """Check that `path` is (or can become) a folder we can write in, creating nothing; CommandError naming `flag`.

    The folder itself is made later, by what writes into it, so a run that stops on bad input leaves nothing.
    """
    folder = Path(path)
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(existing))
        with tempfile.NamedTemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise CommandError(f"{flag} {folder}: not a writable folder ({err.strerror or err})") from None
    return folder
