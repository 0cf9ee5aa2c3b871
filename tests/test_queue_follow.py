"""`harness queue follow` on the real local queue: each byte of the log is read once."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from pathlib import Path

import pytest
from queue_helpers import python

from harness.queue.base import TaskSpec
from harness.queue.local import LocalBackend
from harness.queue.ops import follow


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
