"""The file rules as a pure function, and the APPEND-ONLY definition it relies on."""

from __future__ import annotations

import pytest

from harness.config import Rules
from harness.rules.appendonly import is_valid_append, prepend_text, split_header
from harness.rules.globs import compile_globs
from harness.rules.policy import Change, Context, check, needs_content, unmatched_globs


@pytest.fixture(autouse=True)
def fresh_globs() -> None:
    """Compile every pattern afresh: a cached matcher would hide a change to the compiler."""
    compile_globs.cache_clear()


RULES = Rules()
JOURNAL = "# Journal\n\nIntro.\n\n## 2025-01-02 second\n\nB text\n\n## 2025-01-01 first\n\nA\n"


def on(branch: str | None, *, meta: bool = False) -> Context:
    return Context(RULES, branch, "main", meta)


def rules_broken(changes: list[Change], context: Context) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in check(changes, context)]


@pytest.mark.parametrize(
    ("change", "action"),
    [
        (Change("eval.py", "modify"), "editing it"),
        (Change("eval.py", "delete"), "deleting it"),
        (Change("eval.py", "mode"), "changing its mode"),
        (Change("eval.py", "symlink"), "replacing it with a symlink"),
        (Change("eval.py", "typechange"), "changing its file type"),
        (Change("eval_old.py", "rename", old_path="eval.py"), "renaming it away"),
        (Change("program.md", "rename", old_path="notes.md"), "renaming a file onto it"),
    ],
)
def test_every_kind_of_change_to_a_frozen_file_is_refused(change: Change, action: str) -> None:
    (violation,) = check([change], on("exp/idea"))
    frozen = change.old_path if action == "renaming it away" else change.path
    assert violation.rule == "FROZEN"
    assert violation.message == (
        f"{frozen} is FROZEN: {action} needs META_MODE=1 (a human decision, see program.md); "
        "leave it as it is on main"
    )


def test_meta_mode_lifts_frozen_and_protected_main_but_not_append_only() -> None:
    changes = [
        Change("eval.py", "modify"),
        Change("train.py", "modify"),
        Change("RESEARCH_JOURNAL.md", "delete"),
    ]
    assert rules_broken(changes, on("main", meta=True)) == [("RESEARCH_JOURNAL.md", "APPEND-ONLY")]


ROWS = "run_id\tvalue\nr1\t1.5\n"
APPENDED = {"old_text": ROWS, "new_text": ROWS + "r2\t1.4\n"}  # results.tsv takes only rows


def test_global_files_are_refused_off_main_only() -> None:
    change = Change("results.tsv", "modify", **APPENDED)
    (violation,) = check([change], on("exp/idea"))
    assert (violation.path, violation.rule) == ("results.tsv", "GLOBAL")
    assert violation.message == (
        "results.tsv is GLOBAL: it is committed only on main, not on branch exp/idea; "
        "unstage it (git restore --staged) and let the harness write it in the main worktree"
    )
    assert check([change], on("main")) == []
    assert "not on a detached HEAD" in check([change], on(None))[0].message


def test_protected_main_allows_records_global_and_journals_only() -> None:
    allowed = [
        Change("1_ideas/2025-01-01_wider.md", "add"),
        Change("9_reports/x.md", "modify"),
        Change("0_docs/papers/a b.pdf", "delete"),
        Change("results.tsv", "modify", **APPENDED),
        Change("human_journal.md", "add"),
    ]
    assert check(allowed, on("main")) == []
    refused = [Change("train.py", "modify"), Change("justfile", "mode"), Change("x.py", "add")]
    assert rules_broken(refused, on("main")) == [
        ("train.py", "PROTECTED-MAIN"),
        ("justfile", "PROTECTED-MAIN"),
        ("x.py", "PROTECTED-MAIN"),
    ]
    assert check(refused, on("exp/idea")) == []
    assert check(refused[:1], on("main"))[0].message == (
        "train.py cannot change on main (main is protected): commit code on an exp/ branch "
        "(`harness worktree create SLUG`) and merge it through a reviewed pull request; other "
        "changes on main need META_MODE=1 (a human decision, see program.md)"
    )


def test_a_rename_is_judged_at_both_ends() -> None:
    out_of_records = Change("model.py", "rename", old_path="1_ideas/model.py")
    assert rules_broken([out_of_records], on("main")) == [("model.py", "PROTECTED-MAIN")]
    frozen_on_main = Change("old_eval.py", "rename", old_path="eval.py")
    assert rules_broken([frozen_on_main], on("main")) == [
        ("eval.py", "FROZEN"),
        ("old_eval.py", "PROTECTED-MAIN"),
    ]


def append(old: str, new: str, kind: str = "modify") -> Change:
    return Change("RESEARCH_JOURNAL.md", kind, old_text=old, new_text=new)  # type: ignore[arg-type]


def test_append_only_accepts_new_entries_between_header_and_old_entries() -> None:
    header, body = split_header(JOURNAL)
    new = header + "## 2025-01-03 third\n\nC\n\n" + body
    assert check([append(JOURNAL, new)], on("main")) == []
    assert check([append(JOURNAL, prepend_text(JOURNAL, "## 2025-01-04 x\n"))], on("main")) == []


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (JOURNAL.replace("B text", "B edited"), "edits an old entry"),
        (JOURNAL.replace("Intro.", "Intro!"), "edits the header"),
        (
            JOURNAL.replace("## 2025-01-01 first", "## 2025-01-00 inserted\n\n## 2025-01-01 first"),
            "inserts text between old entries",
        ),
        (JOURNAL + "## appended at the bottom\n", "adds text below the old entries"),
        (JOURNAL[:60], "removes old text"),
        ("# Journal\n\nIntro.\n\n", "removes old text"),
        (JOURNAL.replace("\n", "\r\n"), "edits the header"),
    ],
)
def test_append_only_refuses_edits_insertions_in_the_middle_and_truncation(
    new: str, problem: str
) -> None:
    (violation,) = check([append(JOURNAL, new)], on("main"))
    assert violation.rule == "APPEND-ONLY"
    assert problem in violation.message
    assert violation.message.startswith("RESEARCH_JOURNAL.md is APPEND-ONLY: the change ")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (Change("human_journal.md", "delete"), "deleting it removes its entries"),
        (Change("notes.md", "rename", old_path="human_journal.md"), "renaming it away"),
        (Change("human_journal.md", "symlink"), "it must stay a regular file"),
        (Change("human_journal.md", "typechange"), "it must stay a regular file"),
    ],
)
def test_append_only_files_cannot_be_deleted_moved_or_replaced(
    change: Change, problem: str
) -> None:
    (violation,) = check([change], on("exp/idea"))
    assert (violation.rule, problem in violation.message) == ("APPEND-ONLY", True)


def test_a_frozen_append_only_file_breaks_both_rules_when_rewritten() -> None:
    change = Change("meta_journal.md", "modify", old_text=JOURNAL, new_text="rewritten\n")
    assert rules_broken([change], on("exp/idea")) == [
        ("meta_journal.md", "FROZEN"),
        ("meta_journal.md", "APPEND-ONLY"),
    ]
    valid = Change(
        "meta_journal.md", "modify", old_text=JOURNAL, new_text=prepend_text(JOURNAL, "## n\n")
    )
    assert check([valid], on("main", meta=True)) == []


def test_contents_are_needed_only_for_edits_of_append_only_files() -> None:
    assert needs_content(Change("RESEARCH_JOURNAL.md", "modify"), RULES)
    assert not needs_content(Change("RESEARCH_JOURNAL.md", "delete"), RULES)
    assert not needs_content(Change("train.py", "modify"), RULES)
    with pytest.raises(ValueError, match=r"contents of RESEARCH_JOURNAL\.md are needed"):
        check([Change("RESEARCH_JOURNAL.md", "modify")], on("main"))


def test_globs_apply_to_paths_with_spaces_and_unicode() -> None:
    rules = Rules(frozen=("évals/*.py", "my data/**"))
    context = Context(rules, "exp/x")
    changes = [Change("évals/ü ber.py", "modify"), Change("my data/a/b c.csv", "add")]
    assert [v.path for v in check(changes, context)] == ["évals/ü ber.py", "my data/a/b c.csv"]
    assert check([Change("evals/u.py", "modify")], context) == []


def test_unmatched_globs_are_reported_for_the_doctor() -> None:
    rules = Rules(frozen=("eval.py", "evals.py"), global_=("results.tsv",))
    tracked = ["eval.py", "results.tsv", "RESEARCH_JOURNAL.md", "meta_journal.md"]
    assert unmatched_globs(rules, tracked) == [
        ("FROZEN", "evals.py"),
        ("APPEND-ONLY", "human_journal.md"),
    ]


@pytest.mark.parametrize(
    ("old", "new", "valid"),
    [
        ("", "anything\n", True),
        ("# H\n", "# H\n## new\n", True),
        ("# H\n## a\n", "# H\n## b\n## a\n", True),
        ("# H\n## a\n", "# H\n## a\n", True),
        ("## a\n", "## b\n## a\n", True),
        ("## a\n", "## a\n## b\n", False),
        ("# H\n## a\n", "# H\n## a", False),
        ("# H\n## a\n", "# H2\n## a\n", False),
        ("# H\n## a\n## b\n", "# H\n## a\n## x\n## b\n", False),
        ("# H\n## a\n", "", False),
    ],
)
def test_is_valid_append_is_the_design_definition(old: str, new: str, valid: bool) -> None:
    assert is_valid_append(old, new) is valid
