"""Readers and writers of standard dataset formats (folders, COCO, VOC, mask PNGs)."""

import importlib

# format name -> module of this package; each module has `write(directory, task, records, ...)` and
# `read(directory, task=..., skip_bad=False, ...) -> Records`.
_MODULES = {"folder": "folders", "coco": "coco", "voc": "voc", "masks": "masks"}


def get(format_name: str):
    """The module implementing a format ("folder", "coco", "voc" or "masks")."""
    if format_name not in _MODULES:
        raise ValueError(f"Unknown format {format_name!r}; allowed: {', '.join(_MODULES)}")
    return importlib.import_module(f"{__name__}.{_MODULES[format_name]}")
