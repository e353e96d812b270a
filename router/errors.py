"""Exceptions that carry a user-facing message (never a traceback) to the CLI."""

from __future__ import annotations

from collections.abc import Iterable


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
