"""Writing result files atomically: a folder of results is complete or absent.

`check_output_folder` is called before any work: it says why a folder cannot receive
results (it is a file, it lies under a file, it cannot be written: tried by creating and
removing a hidden folder) and leaves nothing behind. `write_files_atomically` then writes
the files:

- into a folder that does not exist yet: every file is written in full into a hidden folder
  next to it, which is then renamed to the folder's name in one step (a rename is atomic on
  POSIX), so the folder appears complete or not at all;
- into a folder that exists: every file is first written in full to a hidden temporary file
  in the folder; only when all of them are written are they renamed into place, with Ctrl-C
  (SIGINT) held back during the renames so that it cannot leave half of them replaced.

If anything fails, the temporary files and folders (and any missing parent folder this call
created) are removed and no result file is touched. Files are created with mode
``0o666 & ~umask`` and folders with ``0o777 & ~umask`` (0644 and 0755 under the usual umask
022), like the files of any other program: the kernel applies the umask.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path


class OutputFolderError(ValueError):
    """A folder that cannot receive result files; the message names it and says why."""


def check_output_folder(folder: Path) -> None:
    """Raise `OutputFolderError` if result files cannot be written into `folder`.

    `folder` may exist (it must be a writable folder) or not (the nearest existing folder
    above it must be writable, and no file may stand in the way). Nothing is left behind.
    """
    if os.path.lexists(folder) and not folder.exists():
        raise OutputFolderError(f"{folder}: a broken symbolic link, not a folder")
    if folder.exists():
        if not folder.is_dir():
            raise OutputFolderError(f"{folder}: exists and is a file, not a folder")
        _check_writable(folder, folder)
        return
    ancestor = folder.absolute().parent
    while not os.path.lexists(ancestor) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputFolderError(
            f"{folder}: cannot create the folder: {ancestor} is a file, not a folder"
        )
    _check_writable(folder, ancestor)


def _check_writable(folder: Path, existing: Path) -> None:
    """Raise `OutputFolderError` if this process cannot create entries in `existing` (tried
    for real: a hidden folder is created and removed again)."""
    try:
        probe = _new_hidden_folder(existing / "archsim-probe")
    except OSError as error:
        where = "" if existing == folder else f" in {existing}"
        reason = error.strerror or str(error)
        raise OutputFolderError(f"{folder}: cannot write{where}: {reason}") from None
    with contextlib.suppress(OSError):
        probe.rmdir()


def write_files_atomically(folder: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Write `files` (name -> content) into `folder`, all of them or none; return the paths."""
    created = _create_parents(folder.parent)
    try:
        if not folder.exists():
            staging = _new_hidden_folder(folder)
            try:
                for name, content in files.items():
                    _write_new_file(staging / name, content)
                with _sigint_held():
                    os.rename(staging, folder)  # fails if the folder appeared meanwhile
                    return [folder / name for name in files]
            except FileExistsError:
                pass
            except OSError as error:
                if error.errno != errno.ENOTEMPTY:
                    raise
            finally:
                if os.path.lexists(staging):
                    shutil.rmtree(staging, ignore_errors=True)
        return _write_into_existing(folder, files)
    except BaseException:
        for parent in created:
            with contextlib.suppress(OSError):
                parent.rmdir()
        raise


def _write_into_existing(folder: Path, files: Mapping[str, str | bytes]) -> list[Path]:
    """Stage every file in `folder`, then rename them all into place."""
    staged: list[tuple[str, Path]] = []
    try:
        for name, content in files.items():
            staged.append((name, _write_new_file(_hidden_name(folder, name), content)))
        with _sigint_held():
            for name, staged_file in staged:
                os.replace(staged_file, folder / name)
    except BaseException:
        for _, temporary in staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        raise
    return [folder / name for name, _ in staged]


def _create_parents(parent: Path) -> list[Path]:
    """Create `parent` and its missing ancestors; return those created, deepest first."""
    missing = []
    while not os.path.lexists(parent) and parent != parent.parent:
        missing.append(parent)
        parent = parent.parent
    created = []
    try:
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):
                path.mkdir()
                created.append(path)
    except BaseException:
        for path in reversed(created):
            with contextlib.suppress(OSError):
                path.rmdir()
        raise
    return list(reversed(created))


def _hidden_name(folder: Path, name: str) -> Path:
    """A name for a temporary file or folder in `folder`: hidden and unique."""
    return folder / f".{name}.{secrets.token_hex(6)}.tmp"


def _new_hidden_folder(folder: Path) -> Path:
    """A new empty hidden folder next to `folder` (mode 0o777 & ~umask)."""
    while True:
        staging = _hidden_name(folder.parent, folder.name)
        try:
            staging.mkdir(mode=0o777)
        except FileExistsError:
            continue
        return staging


def _write_new_file(path: Path, content: str | bytes) -> Path:
    """Create `path` (mode 0o666 & ~umask; it must not exist), write `content`, sync it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    handle = os.open(path, flags, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content.encode("utf-8") if isinstance(content, str) else content)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return path


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """SIGINT is held back in the block (delivered, as KeyboardInterrupt, right after)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "pthread_sigmask"
    ):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
