"""Task times: ISO 8601 in UTC, ending in `Z`, to the millisecond, whatever the backend wrote."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from harness.fileio import utc_now as utc_now  # the one clock, re-exported for the queues

FRACTION = re.compile(r"\.(\d+)")


def normalise_time(text: str | None) -> str | None:
    """`...Z`, `...+00:00`, with up to nanoseconds (pueue), as `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    if not text:
        return None
    # Python reads at most six digits of a fraction; pueue writes nine.
    trimmed = FRACTION.sub(lambda match: "." + match.group(1)[:6], text, count=1)
    return _format(datetime.fromisoformat(trimmed.replace("Z", "+00:00")))


def seconds_between(start: str | None, end: str | None) -> float | None:
    """Seconds from one normalised time to another (to now when `end` is None)."""
    if not start:
        return None
    stop = datetime.fromisoformat(end) if end else datetime.now(UTC)
    return (stop - datetime.fromisoformat(start)).total_seconds()


def _format(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
