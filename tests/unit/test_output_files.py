"""Result files (`sim.presentation.files`): checked before the work, written completely or
not at all, with the modes of the umask; and a process pool that stops at once when the
work fails or is interrupted (`sim.experiments.executors`)."""

from __future__ import annotations

import concurrent.futures.process
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.experiments import executors
from sim.presentation import files
from sim.presentation.files import OutputFolderError, check_output_folder, write_files_atomically

AS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_folder_appears_complete_with_the_modes_of_the_umask(
    tmp_path: Path, umask_022: None
) -> None:
    folder = tmp_path / "a" / "b" / "out"
    written = write_files_atomically(folder, {"x.json": "{}", "y.png": b"\x89PNG"})
    assert written == [folder / "x.json", folder / "y.png"]
    assert (folder / "x.json").read_text() == "{}"
    assert [path.stat().st_mode & 0o777 for path in written] == [0o644, 0o644]
    for made in (folder, folder.parent, folder.parent.parent):
        assert made.stat().st_mode & 0o777 == 0o755
    assert sorted(path.name for path in folder.parent.iterdir()) == ["out"]  # no leftovers


def test_another_umask_gives_other_modes(tmp_path: Path) -> None:
    previous = os.umask(0o077)
    try:
        written = write_files_atomically(tmp_path / "out", {"x.json": "{}"})
    finally:
        os.umask(previous)
    assert written[0].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o700


def test_an_existing_folder_gets_its_files_replaced_and_keeps_the_others(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("old")
    (tmp_path / "mine.txt").write_text("keep")
    write_files_atomically(tmp_path, {"x.json": "new"})
    assert (tmp_path / "x.json").read_text() == "new"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["mine.txt", "x.json"]


@pytest.mark.parametrize("exists", [False, True], ids=["new folder", "existing folder"])
def test_a_failure_leaves_nothing(
    exists: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "parent" / "out"
    if exists:
        folder.mkdir(parents=True)
        (folder / "x.json").write_text("old")
    original = files._write_new_file
    calls: list[Path] = []

    def fail_second(path: Path, content: str | bytes) -> Path:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C while writing: nothing half done
        return original(path, content)

    monkeypatch.setattr(files, "_write_new_file", fail_second)
    with pytest.raises(KeyboardInterrupt):
        write_files_atomically(folder, {"x.json": "new", "y.json": "new"})
    if exists:
        assert [path.name for path in folder.iterdir()] == ["x.json"]
        assert (folder / "x.json").read_text() == "old"
    else:
        assert list(tmp_path.iterdir()) == []  # the parent it created is gone too


def test_check_output_folder_names_the_problem(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("mine")
    check_output_folder(tmp_path)  # exists, writable
    check_output_folder(tmp_path / "new" / "deeper")  # can be created
    with pytest.raises(OutputFolderError, match=r"notes\.txt: exists and is a file, not a folder"):
        check_output_folder(a_file)
    with pytest.raises(OutputFolderError, match=r"create the folder: .*notes\.txt is a file"):
        check_output_folder(a_file / "x" / "y")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputFolderError, match="a broken symbolic link"):
        check_output_folder(tmp_path / "dangling")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dangling", "notes.txt"]


@pytest.mark.skipif(AS_ROOT, reason="root may write into a read-only folder")
def test_check_output_folder_refuses_a_read_only_folder(tmp_path: Path) -> None:
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(OutputFolderError, match="Permission denied"):
            check_output_folder(tmp_path)
        with pytest.raises(OutputFolderError, match=f"cannot write in {tmp_path}"):
            check_output_folder(tmp_path / "out")
    finally:
        tmp_path.chmod(0o755)


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_a_failing_block_stops_the_pool_at_once() -> None:
    """An exception (Ctrl-C included) in the block cancels what has not started and stops
    the workers instead of waiting for every task."""
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), executors.open_executor(jobs=2) as pool:
        futures = [pool.submit(_nap, 20.0) for _ in range(8)]
        time.sleep(0.5)
        raise KeyboardInterrupt
    assert time.monotonic() - started < 8
    # the pool hands each worker its task and queues workers + EXTRA_QUEUED_CALLS more ahead
    # (those are running as far as their futures tell, and cannot be cancelled): the rest are
    ahead = 2 + 2 + concurrent.futures.process.EXTRA_QUEUED_CALLS
    assert sum(future.cancelled() for future in futures) >= len(futures) - ahead


def _wait_for_ever() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # (as the pool's workers do)
    time.sleep(600)


def test_a_child_started_during_the_pool_but_not_registered_is_stopped_too() -> None:
    """A worker forked just before Ctrl-C, not yet in the pool's list, would wait for ever
    and hold the terminal's output open: every child started since the pool opened is
    stopped; one started before it is spared."""
    before = multiprocessing.Process(target=_wait_for_ever, daemon=True)
    before.start()
    try:
        with pytest.raises(KeyboardInterrupt), executors.open_executor(jobs=2):
            orphan = multiprocessing.Process(target=_wait_for_ever)
            orphan.start()  # (the pool does not know it: the unregistered worker)
            raise KeyboardInterrupt
        orphan.join(timeout=5)
        assert not orphan.is_alive()
        assert before.is_alive()
    finally:
        before.terminate()
        before.join(timeout=5)


def test_a_child_only_the_operating_system_lists_is_stopped_too() -> None:
    """A worker forked as Ctrl-C interrupts its start may not be registered with
    `multiprocessing` at all (the interrupt lands between the fork and the registration):
    every child the operating system lists as started since the pool opened is stopped;
    one started before it is spared."""
    if not os.path.exists("/proc/self/task"):
        pytest.skip("the operating system's list of children is read from /proc (Linux)")
    waiting = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(600)"
    before = subprocess.Popen([sys.executable, "-c", waiting])
    try:
        with pytest.raises(KeyboardInterrupt), executors.open_executor(jobs=2):
            orphan = subprocess.Popen([sys.executable, "-c", waiting])
            raise KeyboardInterrupt
        assert orphan.wait(timeout=5) == -signal.SIGTERM
        assert before.poll() is None
    finally:
        before.kill()
        before.wait(timeout=5)
