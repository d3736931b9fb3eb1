"""Output files named on the command line, checked before a command does its work."""

from __future__ import annotations

import os


def prepare_output_file(option: str, path) -> None:
    """Make the folder of an output file (`--json`, `--draw`, ...) so that a result is never computed and then
    lost to a missing folder; an existing folder given as the file is refused at once, naming the option."""
    if path is None:
        return
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{option} {path} is a folder; expected a file name")
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
