"""What every solver shares: the result type, the options, and the registry."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from router.compile import Problem
from router.errors import SolverUnavailable


class Status(enum.StrEnum):
    OPTIMAL = "optimal"  # proven optimal (within the relative MIP gap asked for)
    FEASIBLE = "feasible"  # a valid plan, optimality not proven
    INFEASIBLE = "infeasible"  # proven: no plan satisfies the constraints
    NO_SOLUTION = "no_solution"  # the budget ran out before any plan


@dataclass(frozen=True)
class SolveOptions:
    """Options every solver honours.

    ``time_limit`` is wall-clock seconds for the whole solver call, model building included
    (``None``: no limit). The same ``seed`` gives the same plan.
    """

    time_limit: float | None = None
    seed: int = 0
    mip_gap: float = 1e-4
    threads: int = 1
    warm_start: np.ndarray | None = None  # units per line-arc, e.g. a greedy plan
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SolverResult:
    """The answer of one solver call, in compiled space."""

    solver: str
    status: Status
    x: np.ndarray | None  # units per line-arc; None when there is no plan
    objective: float | None
    lower_bound: float | None
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def has_plan(self) -> bool:
        return self.x is not None


class Solver(Protocol):
    def __call__(self, problem: Problem, options: SolveOptions) -> SolverResult: ...


@dataclass(frozen=True)
class SolverInfo:
    name: str
    func: Solver
    description: str
    kind: str  # "heuristic", "mip", "bound"
    available: Callable[[], str | None] = lambda: None  # None if usable, else why not


_REGISTRY: dict[str, SolverInfo] = {}


def register(name: str, description: str, kind: str,
             available: Callable[[], str | None] | None = None) -> Callable[[Solver], Solver]:
    def deco(func: Solver) -> Solver:
        _REGISTRY[name] = SolverInfo(name, func, description, kind,
                                     available or (lambda: None))
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


class Deadline:
    """Wall-clock budget shared by the stages of one solver call."""

    def __init__(self, time_limit: float | None) -> None:
        self.start = time.perf_counter()
        self.limit = time_limit

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float:
        if self.limit is None:
            return float("inf")
        return max(0.0, self.limit - self.elapsed())

    def expired(self) -> bool:
        return self.remaining() <= 0.0
