"""Model files: one ``.npz`` of plain numeric/string arrays plus a JSON header; no Python
objects are ever serialised, and loading refuses object arrays (numpy's default)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from recsys_core.publish.files import atomic_write

FORMAT_VERSION = 1


def write_npz(
    path: str | os.PathLike, header: dict[str, Any], arrays: dict[str, np.ndarray]
) -> Path:
    """Write ``arrays`` and a JSON ``header`` to ``path`` atomically (temp file, then rename)."""
    path = Path(path)
    payload = {f"a_{k}": np.asarray(v) for k, v in arrays.items()}
    for key, arr in payload.items():
        if arr.dtype == object:
            raise TypeError(f"array {key[2:]!r} has dtype object: only plain arrays are stored")
    header = {**header, "format_version": FORMAT_VERSION}
    payload["header"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(fh, **payload)

    atomic_write(path, write)
    return path


def read_npz(path: str | os.PathLike | BinaryIO) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read a file (a path, or an open binary file) written by :func:`write_npz`:
    (header, arrays)."""
    source = path if hasattr(path, "read") else Path(path)
    with np.load(source) as npz:  # object arrays are refused by default
        header = json.loads(npz["header"].tobytes().decode())
        arrays = {k[2:]: npz[k] for k in npz.files if k.startswith("a_")}
    return header, arrays
