"""poll_until: the one poll-until-a-deadline loop of the harness (lock, queue waits)."""

from __future__ import annotations

import itertools
import time

import pytest

from harness.errors import QueueError
from harness.fileio import poll_until


def test_it_returns_the_first_answer_that_is_not_none() -> None:
    answers = iter([None, None, 0, 5])
    assert poll_until(lambda: next(answers), timeout=5, every=0.001, timed_out=RuntimeError) == 0


def test_it_gives_up_after_the_timeout_with_the_callers_error() -> None:
    calls: list[float] = []
    started = time.monotonic()
    with pytest.raises(QueueError, match="did not end"):
        poll_until(
            lambda: calls.append(time.monotonic()),
            timeout=0.2,
            every=0.01,
            at_most=0.05,
            timed_out=lambda: QueueError("did not end"),
        )
    assert 0.2 <= time.monotonic() - started < 2
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] < 0.04 and max(gaps) < 0.2, "pauses double up to at_most, no further"
    assert len(calls) >= 4


def test_without_a_timeout_it_waits_as_long_as_it_takes() -> None:
    done = time.monotonic() + 0.1
    assert poll_until(
        lambda: True if time.monotonic() > done else None,
        timeout=None,
        every=0.01,
        timed_out=RuntimeError,
    )
