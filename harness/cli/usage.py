"""Argument errors as one line: `harness idea new: missing SLUG (see `harness idea new --help`)`.

tyro draws a box of several lines for a bad command line. Its parse-error hook hands
over the failure as an event before the box is drawn; `one_line` turns each kind of
event into a sentence, and raising `UsageError` from the hook replaces the box. `--help`
is not an error and keeps tyro's full output.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from harness.errors import UsageError

TYPE_METAVARS = frozenset({"STR", "INT", "FLOAT", "PATH", "BOOL"})  # tyro's defaults
DASH_HINT = "values starting with '-' are read as options: put them after `--`"


@contextmanager
def one_line_errors(args: Sequence[str] = ()) -> Iterator[None]:
    """While active, a parse error of tyro raises UsageError (exit 2) with one line."""
    try:  # tyro's parse-error hook is private (tyro >= 1.0.17, pinned in pyproject.toml)
        from tyro._errors import on_parse_error
    except ImportError:  # pragma: no cover - another tyro: its own box, still exit 2
        context: Any = nullcontext()
    else:

        def hook(event: Any) -> None:
            raise UsageError(one_line(event, args=args))

        context = on_parse_error(hook)
    with context:
        yield


def check_text_arguments(args: Sequence[str]) -> None:
    """UsageError for an argument that is not UTF-8 (the shell passed raw bytes): it would
    end up in a file that every reader expects as UTF-8. What follows `--` is a command
    line of its own and goes to it as given."""
    for number, arg in enumerate(args, start=1):
        if arg == "--":
            return
        bad = next((c for c in arg if 0xDC80 <= ord(c) <= 0xDCFF), None)
        if bad is not None:
            byte = ord(bad) - 0xDC00
            raise UsageError(
                f"argument {number} is not valid UTF-8 (byte 0x{byte:02x}): give it as UTF-8 text"
            )


def one_line(event: Any, *, args: Sequence[str] = ()) -> str:
    """`<command>: <what is wrong> (see `harness <command> --help`)` for one tyro event."""
    kind = type(event).__name__
    prog = _command(event, args=args)
    problem = _problem(kind, event) or "the arguments cannot be parsed"
    if _misses_positional(kind, event) and _has_dash_value(args):
        problem += f" ({DASH_HINT})"
    where = prog.removeprefix("harness").strip()
    return f"{where + ': ' if where else ''}{problem} (see `{prog} --help`)"


def _misses_positional(kind: str, event: Any) -> bool:
    try:
        if kind == "MissingArgs":
            return any(item.arg.is_positional() for item in event.missing_arguments)
        return kind == "BadValue" and bool(event.argument.is_positional())
    except Exception:  # tyro's internals changed: no hint then
        return False


def _has_dash_value(args: Sequence[str]) -> bool:
    """Whether a word looks like a value that was taken for an option (`-x`, `-lr`)."""
    return any(re.fullmatch(r"-[^-].*", arg) for arg in args)


def _problem(kind: str, event: Any) -> str:
    if kind == "MissingArgs":
        names = [_name(item.arg) for item in event.missing_arguments]
        text = f"missing {', '.join(names)}"
        stray = list(event.unrecognized_tokens)
        if stray:
            text += f"; not understood: {' '.join(stray)}"
        return text
    if kind == "UnrecognizedArgs":
        return _unrecognised(event.tokens)
    if kind == "MissingSubcommand":
        commands = ", ".join(event.subcommand_spec.parser_from_name)
        return f"a command is needed: one of {commands}"
    if kind == "BadValue":
        name = _name(event.argument)
        if event.offending_value is not None:
            return f"{name} takes no value, got {event.offending_value!r}"
        return f"missing {name}" if event.argument.is_positional() else f"{name} needs a value"
    if kind == "InvalidChoice":
        choices = ", ".join(str(choice) for choice in event.choices)
        return f"{_name(event.argument)} must be one of {choices}, got {event.value!r}"
    if kind == "InstantiationFailure":
        return _bad_value(event)
    if kind == "MutexConflict":
        return f"{event.first_token} and {event.second_token} cannot be given together"
    if kind == "SubcommandConflict":
        return f"{event.attempted!r} cannot follow {event.trigger_flag} here"
    if kind == "MissingMutexGroup":
        return "one of a group of options is required"
    return ""


def _unrecognised(tokens: list[str]) -> str:
    words = " ".join(tokens)
    if tokens and not tokens[0].startswith("-"):
        return f"unknown command or argument: {words}"
    return f"unknown option: {words}"


def _bad_value(event: Any) -> str:
    """`--seed needs INT, got 'x'` from tyro's several-line instantiation message."""
    if event.argument is None:
        return _first_line(event.message)
    name = _name(event.argument)
    given = re.search(r"instantiated from (\[.*?\])", str(event.message))
    expected = _metavar(event.argument)
    if given and expected:
        words = given.group(1).strip("[]")
        return f"{name} needs {expected}, got {words}"
    return f"bad value for {name}: {_first_line(event.message)}"


def _name(argument: Any) -> str:
    """`SLUG` for a positional, `--seed` for an option."""
    try:
        if argument.is_positional():
            metavar = str(argument.lowered.metavar or "")
            custom = metavar and metavar not in TYPE_METAVARS
            return metavar if custom else argument.display_name().upper()
        return str(argument.display_name())
    except Exception:  # tyro's internals changed: a plainer name still helps
        return "an argument"


def _metavar(argument: Any) -> str:
    try:
        return str(argument.lowered.metavar or "").replace("{None}|", "")
    except Exception:  # tyro's internals changed
        return ""


def _first_line(message: str) -> str:
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else "it cannot be read"


def _command(event: Any, *, args: Sequence[str]) -> str:
    """The command as typed (`harness idea new`); some events name several: the first.

    Events raised after the command words were parsed name only the root; the command
    words are then the leading words of the arguments.
    """
    progs = event._help_progs() if hasattr(event, "_help_progs") else event.prog
    if isinstance(progs, list | tuple):
        progs = progs[0] if progs else "harness"
    prog = " ".join(str(progs).split()) or "harness"
    if prog == "harness" and type(event).__name__ in ("InstantiationFailure", "MissingSubcommand"):
        words = []
        for arg in args:
            if arg.startswith("-"):
                break
            words.append(arg)
        prog = " ".join(["harness", *words])
    return prog
