"""The solver registry: every solver registers its name, kind, description, parameter class
and availability check; :func:`get` finds one or says why it cannot be used.

A solver is a function ``solve(problem, run) -> Outcome`` (:mod:`router.contract`): it sees
only the compiled :class:`~router.compile.Problem` and the :class:`~router.contract.Run`.

A solver that starts costly resources per call (worker processes, a Ray instance) may also
register a ``session``: given its parameters, a context manager that starts them once for a
run of many batches (a day's replay) and stops them at its end; the calls made inside it use
them. :func:`session` gives a solver's (a do-nothing context for the others).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from router.compile import Problem
from router.contract import NoParams, Outcome, Params, Run
from router.errors import SolverUnavailable

Kind = Literal["heuristic", "bound", "mip", "portfolio"]
KINDS: tuple[Kind, ...] = ("heuristic", "bound", "mip", "portfolio")


class Solver(Protocol):
    def __call__(self, problem: Problem, run: Run) -> Outcome: ...


@dataclass(frozen=True)
class SolverInfo:
    name: str
    func: Solver
    description: str
    kind: Kind
    params: type[Params] = NoParams
    available: Callable[[], str | None] = lambda: None  # None if usable, else why not
    work_unit: str = ""  # what one unit of a work budget counts for this solver
    # resources kept across the calls made inside it (see the module docstring)
    session: Callable[[Params], AbstractContextManager[Any]] | None = None


_REGISTRY: dict[str, SolverInfo] = {}


def register(name: str, description: str, kind: Kind, *, params: type[Params] = NoParams,
             available: Callable[[], str | None] | None = None,
             work_unit: str = "",
             session: Callable[[Params], AbstractContextManager[Any]] | None = None
             ) -> Callable[[Solver], Solver]:
    if kind not in KINDS:
        raise ValueError(f"unknown solver kind {kind!r}")

    def deco(func: Solver) -> Solver:
        _REGISTRY[name] = SolverInfo(name, func, description, kind, params,
                                     available or (lambda: None), work_unit, session)
        return func
    return deco


def registry() -> dict[str, SolverInfo]:
    from router import solvers  # noqa: F401  (importing the package registers every solver)

    return dict(_REGISTRY)


def get(name: str) -> SolverInfo:
    reg = registry()
    if name not in reg:
        raise SolverUnavailable(f"unknown solver {name!r}; available: {', '.join(sorted(reg))}")
    info = reg[name]
    why = info.available()
    if why is not None:
        raise SolverUnavailable(f"solver {name!r} is not available here: {why}")
    return info


def session(name: str, params: Params) -> AbstractContextManager[Any]:
    """The session of solver ``name`` for ``params`` (its resources, started on entering and
    stopped on leaving, also on an error or Ctrl-C), or a context that does nothing."""
    info = get(name)
    if info.session is None:
        return contextlib.nullcontext(None)
    return info.session(params)
