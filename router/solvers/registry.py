"""The solver registry: every solver registers its name, kind, description, parameter class
and availability check; :func:`get` finds one or says why it cannot be used.

A solver is a function ``solve(problem, run) -> Outcome`` (:mod:`router.contract`): it sees
only the compiled :class:`~router.compile.Problem` and the :class:`~router.contract.Run`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

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


_REGISTRY: dict[str, SolverInfo] = {}


def register(name: str, description: str, kind: Kind, *, params: type[Params] = NoParams,
             available: Callable[[], str | None] | None = None,
             work_unit: str = "") -> Callable[[Solver], Solver]:
    if kind not in KINDS:
        raise ValueError(f"unknown solver kind {kind!r}")

    def deco(func: Solver) -> Solver:
        _REGISTRY[name] = SolverInfo(name, func, description, kind, params,
                                     available or (lambda: None), work_unit)
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
