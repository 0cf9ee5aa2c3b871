"""`harness queue follow` on the real local queue: each byte of the log is read once."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

import pytest

from harness.queue.base import TaskSpec
from harness.queue.local import LocalBackend
from harness.queue.ops import follow
from tests.queue_helpers import python


class ReadsCounted(LocalBackend):
    """The local backend, keeping (offset, bytes returned) of every read `follow` asks for."""

    def __init__(self, queue_dir: Path) -> None:
        super().__init__(queue_dir, idle_exit=2)
        self.reads: list[tuple[int, int]] = []

    def read_log_from(self, task_id: str, offset: int) -> bytes:
        chunk = super().read_log_from(task_id, offset)
        self.reads.append((offset, len(chunk)))
        return chunk


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[ReadsCounted]:
    instance = ReadsCounted(tmp_path / "queue")
    yield instance
    instance.stop_worker()


def test_follow_reads_only_what_was_appended(backend: ReadsCounted, tmp_path: Path) -> None:
    code = (
        "import time\n"
        "for i in range(6):\n"
        "    print(f'line {i} ü €', flush=True)\n"
        "    time.sleep(0.15)"
    )
    task_id = backend.submit(TaskSpec(argv=python(code), cwd=str(tmp_path)))
    written: list[str] = []
    final = follow(backend, task_id, write=written.append, poll=0.05)
    assert final.state == "succeeded"
    log = backend.store.log_path(int(task_id)).read_bytes()
    assert "".join(written) == log.decode() == "".join(f"line {i} ü €\n" for i in range(6))
    offsets = [offset for offset, _ in backend.reads]
    sizes = [size for _, size in backend.reads]
    assert offsets == [0, *accumulate(sizes)][:-1]  # each read starts where the last ended
    assert sum(sizes) == len(log)
    assert len([size for size in sizes if size]) > 1  # it streamed while the task ran


def bytes_read_by_this_process() -> int:
    """The bytes this process has read through read(2) and its kin, from any file."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux's /proc/self/io")
def test_follow_of_a_big_growing_log_reads_it_about_once(tmp_path: Path) -> None:
    """The plain local backend and its real log file: a task writes 16 MB, then keeps
    adding lines while `follow` polls it dozens of times. What this process reads from disk
    stays near one log's size; reading the file again on every poll would be dozens."""
    backend = LocalBackend(tmp_path / "queue", idle_exit=2)
    code = (
        "import sys, time\n"
        "sys.stdout.write(('x' * 1023 + '\\n') * 16384); sys.stdout.flush()\n"
        "for i in range(20):\n"
        "    print(f'line {i}', flush=True)\n"
        "    time.sleep(0.1)"
    )
    try:
        task_id = backend.submit(TaskSpec(argv=python(code), cwd=str(tmp_path)))
        written: list[str] = []
        before = bytes_read_by_this_process()
        final = follow(backend, task_id, write=written.append, poll=0.05)
        read = bytes_read_by_this_process() - before
    finally:
        backend.stop_worker()
    assert final.state == "succeeded"
    log = backend.store.log_path(int(task_id)).read_bytes()
    assert "".join(written) == log.decode() and len(log) > 16 * 2**20
    polls = len([text for text in written if text])
    assert polls > 5  # it streamed while the task ran
    assert read < 1.5 * len(log), f"{read} bytes read for a log of {len(log)}"
