"""Writing result files atomically: every file of an output folder is complete or absent.

Each file is first written in full to a temporary file in the same folder; only when all of
them are written are they renamed into place (a rename within a folder is atomic on POSIX).
If anything fails, the temporary files are removed and no result file is touched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path


def write_files_atomically(folder: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write `files` (name -> content) into `folder`, all of them or none; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[str, Path]] = []
    try:
        for name, content in files.items():
            handle, temporary_name = tempfile.mkstemp(prefix=f".{name}.", dir=folder)
            with os.fdopen(handle, "wb") as stream:
                stream.write(content.encode("utf-8") if isinstance(content, str) else content)
                stream.flush()
                os.fsync(stream.fileno())
            staged.append((name, Path(temporary_name)))
    except BaseException:
        for _, temporary in staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise
    written = []
    for name, staged_file in staged:
        target = folder / name
        os.replace(staged_file, target)
        written.append(target)
    return written
