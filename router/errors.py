"""Exceptions that carry a user-facing message (never a traceback) to the CLI."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from typing import Any


def brief(v: Any, limit: int = 40, *, quote: bool = True) -> str:
    """A short description of any value for a message: a string or number shown (cut to
    ``limit`` characters), anything else by its kind. Never walks a container, so a YAML alias
    bomb or a 5,000-digit integer gives a short message in no time."""
    if type(v).__module__ == "numpy" and getattr(v, "shape", None) == ():
        v = v.item()  # a numpy scalar
    if isinstance(v, str):
        s = v if len(v) <= limit else v[:limit] + "..."
        if quote:
            return repr(s)
        return s if s.isprintable() else repr(s)[1:-1]  # control characters, lone surrogates
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        if v.bit_length() > 3 * limit:  # int -> str is quadratic and limited: say its size
            return f"an integer of about {math.floor(v.bit_length() * math.log10(2)) + 1} digits"
        s = repr(v)
    elif isinstance(v, float):
        s = repr(v)
    elif isinstance(v, (datetime.date, datetime.time)):  # YAML reads dates and times
        s = str(v)
    else:
        name = type(v).__name__
        return {"dict": "a mapping", "list": "a list", "tuple": "a list", "set": "a set",
                "bytes": "binary data"}.get(name, name)
    return s if len(s) <= limit else s[:limit] + "..."


class RouterError(Exception):
    """Base class of every error that `router` raises on purpose."""


class InputError(RouterError):
    """Bad input: every problem found, each as ``(path, message)``.

    ``source`` names the file (or ``<dict>`` / ``<string>``) the input came from.
    """

    def __init__(self, problems: Iterable[tuple[str, str]], source: str = "<input>") -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        self.source = source
        super().__init__(self.format())

    def format(self) -> str:
        lines = []
        for path, message in self.problems:
            lines.append(f"{self.source}: {path}: {message}" if path else f"{self.source}: {message}")
        return "\n".join(lines)

    def with_source(self, source: str) -> InputError:
        return InputError(self.problems, source)


class VerificationError(RouterError):
    """A plan violates its instance; ``report`` holds every violation."""

    def __init__(self, report: object) -> None:
        self.report = report
        super().__init__(str(report))


class SolverUnavailable(RouterError):
    """The named solver is unknown or its engine is not installed."""


class OptionError(RouterError, ValueError):
    """A run option or solver parameter is unknown or out of range (bad usage: exit 2)."""


class Interrupted(RouterError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM) before it finished."""
