"""Where an idea stands: its effect over its parent, its standing against the head
(docs/architecture.md §4).

The idea's side is its valid runs at the code it is now (its branch's tip). Its **effect**
is measured against the runs of its parent's code (what it branched from); its
**standing** against the runs of the head of the line it would join. It is a winner when
it beats the head by more than `min_effect` and the noise, and its parent is the head
(an idea whose parent is no longer the head is stale: re-tested on top of the head
first). Unrelated ideas on record do not matter: a real improvement need not beat the
luckiest of hundreds of null ideas. The comparisons are `harness.record.compare`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.config import Config
from harness.errors import UsageError
from harness.record.compare import (
    Comparison,
    Noise,
    Side,
    baseline_noise,
    beats,
    compare_sides,
    side_from_valid,
)
from harness.record.reference import Head, side_of_code
from harness.record.results import valid_runs

if TYPE_CHECKING:
    import polars as pl

BASELINE = "baseline"


@dataclass(frozen=True)
class Standing:
    side: Side  # the idea's valid runs at its code
    noise: Noise
    min_effect: float
    head: Head  # the reference: the head of the line
    parent: Head | None  # what the idea branched from (None: not known)
    against_head: Comparison | None  # the head (a) against the idea (b)
    against_parent: Comparison | None  # the parent (a) against the idea (b): the effect

    @property
    def is_stale(self) -> bool:
        return self.parent is not None and self.parent.code != self.head.code

    @property
    def best(self) -> Comparison | None:
        """The reference the decision is taken against: the head."""
        return self.against_head

    @property
    def baseline(self) -> Comparison | None:
        """What the effect is measured against: the parent (else the head)."""
        return self.against_parent or self.against_head

    @property
    def others(self) -> tuple[Comparison, ...]:
        found = (self.against_head, self.against_parent)
        return tuple({id(c): c for c in found if c is not None}.values())

    @property
    def unbeaten(self) -> Comparison | None:
        head = self.against_head
        return head if head is not None and not self.is_beaten(head) else None

    def is_beaten(self, comparison: Comparison) -> bool:
        return beats(comparison.improvement, comparison.confidence, min_effect=self.min_effect)

    @property
    def is_winner(self) -> bool:
        head = self.against_head
        return head is not None and not self.is_stale and self.is_beaten(head)

    @property
    def reason(self) -> str:
        name, head = self.side.label, self.head.label
        if self.against_head is None:
            return (
                f"the head {head} has no valid run to compare {name} with: run `harness baseline`"
            )
        if self.is_stale:
            assert self.parent is not None
            return (
                f"{name} is stale: it branched from {self.parent.label}, and the head is now "
                f"{head}: run `harness rebase {name}` and test it again on top of the head"
            )
        if not self.is_beaten(self.against_head):
            return f"{name} does not beat the head {head}: {self.against_head.verdict}"
        return f"{name} beats the head {head}: {self.against_head.verdict}"


def valid_side(frame: pl.DataFrame, config: Config, label: str, *, code: str | None) -> Side:
    """The valid runs of `label` at `code` (any code when None); a clear error when none."""
    import polars as pl

    rows = frame.filter(pl.col("idea") == label)
    valid = valid_runs(rows, config)
    if code is not None and not valid.is_empty():
        at_code = valid.filter(pl.col("code") == code)
        if at_code.is_empty():
            raise UsageError(
                f"idea {label!r} has {valid.height} valid run(s), none of its code now "
                f"(exp/{label} changed since, or was rebased): queue its evaluation again "
                f"(`harness queue add --seeds {config.seeds} -- just eval` in its worktree)"
            )
        valid = at_code
    if valid.is_empty():
        statuses = rows.get_column("status").cast(str).fill_null("?").to_list()
        if not statuses:
            raise UsageError(
                f"idea {label!r} has no run recorded: queue its evaluation first "
                f"(`harness queue add --seeds {config.seeds} -- just eval` in its worktree)"
            )
        counts = ", ".join(f"{statuses.count(s)} {s}" for s in dict.fromkeys(statuses))
        raise UsageError(
            f"idea {label!r} has no valid run ({counts}; a valid run has status ok and "
            f"integrity ok): fix its code and run `just eval` again in its worktree, or "
            f"abandon it with `harness idea set {label} --status abandoned --reason ...`"
        )
    return side_from_valid(label, valid)


def standing(
    frame: pl.DataFrame,
    config: Config,
    label: str,
    *,
    code: str | None,
    head: Head,
    parent: Head | None,
) -> Standing:
    """`label`'s runs at `code` against the head and against its parent.

    `frame` has its codes filled (`harness.record.code.fill_codes`).
    """
    side = valid_side(frame, config, label, code=code)
    noise = baseline_noise(frame, config, head_code=head.code)
    head_side = side_of_code(frame, config, head.code, _name(head, parent, "head"))
    against_head = against_parent = None
    if head_side is not None:
        against_head = compare_sides(head_side, side, config=config, noise=noise)
    if parent is not None and parent.code == head.code:
        against_parent = against_head
    elif parent is not None:
        parent_side = side_of_code(frame, config, parent.code, f"parent {parent.label}")
        if parent_side is not None:
            against_parent = compare_sides(parent_side, side, config=config, noise=noise)
    return Standing(side, noise, config.min_effect, head, parent, against_head, against_parent)


def _name(head: Head, parent: Head | None, role: str) -> str:
    if parent is not None and parent.code == head.code:
        return f"head {head.label} (the parent)"
    return f"{role} {head.label}"
