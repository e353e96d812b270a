"""The run contract: what every solver gets and what it gives back.

In: a :class:`Budget` (an absolute deadline and/or a number of work units, and an optional
cancel event), validated :class:`Params` of the solver, the seed, the requested gap and an
optional starting plan, all in one :class:`Run`. Out: one :class:`Outcome`: the plan (units
per line-arc), its :class:`Status`, the :class:`Termination` (reason and the limit that
stopped it), where the plan came from, the proven bound, and typed :class:`SolverStats`.

One function, :func:`within_gap`, decides "optimal" for every solver. One status vocabulary,
:class:`Status`, is used everywhere, the plan file included.

Work units make a run repeatable exactly: a run stopped by work (``work_limit``) does the same
steps on every machine, whatever the clock says. Each solver documents what one unit counts
(a local-search move, a subgradient step, a branch-and-bound node).
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import math
import threading
import time
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar, get_args, get_origin

import numpy as np

from router.errors import OptionError


class Status(enum.StrEnum):
    """What the answer is (SPEC section 4)."""

    OPTIMAL = "optimal"  # proven optimal within the requested relative gap
    FEASIBLE = "feasible"  # a valid plan, optimality not proven
    INFEASIBLE = "infeasible"  # proven: no plan satisfies the constraints
    NO_SOLUTION = "no_solution"  # the budget ran out before any plan


class Reason(enum.StrEnum):
    """Why a run stopped (as OR-Tools MathOpt's termination reason)."""

    OPTIMAL = "optimal"  # the requested gap was reached: the plan is proven optimal within it
    INFEASIBLE = "infeasible"  # proven infeasible
    COMPLETED = "completed"  # the method ran its course (a heuristic finished); no proof
    LIMIT = "limit"  # a limit stopped it before a proof: see :class:`Limit`
    ENGINE_FAILURE = "engine_failure"  # the engine failed (error, killed, invalid answer)


class Limit(enum.StrEnum):
    """The limit that stopped a run (``none`` when no limit did)."""

    NONE = "none"
    TIME = "time"
    WORK = "work"
    INTERRUPTED = "interrupted"  # cancelled by the caller


@dataclass(frozen=True, slots=True)
class Termination:
    """Reason and limit; ``fallback`` says why the plan is not the solver's own (e.g. the engine
    found nothing in time and the plan is the greedy floor); ``detail`` is free text."""

    reason: Reason
    limit: Limit = Limit.NONE
    detail: str = ""
    fallback: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": str(self.reason), "limit": str(self.limit)}
        if self.detail:
            out["detail"] = self.detail
        if self.fallback:
            out["fallback"] = self.fallback
        return out

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Termination:
        return Termination(Reason(d["reason"]), Limit(d.get("limit", "none")),
                           str(d.get("detail", "")), str(d.get("fallback", "")))


GAP_TOLERANCE = 1e-6
"""Relative slack for floating-point noise, added to the requested gap in :func:`within_gap`."""


def within_gap(objective: float | None, bound: float | None, gap: float) -> bool:
    """The one definition of "optimal": a proven ``bound`` within the relative ``gap`` of the
    plan's ``objective`` (plus :data:`GAP_TOLERANCE` of it for rounding)."""
    if objective is None or bound is None or not math.isfinite(objective) \
            or not math.isfinite(bound):
        return False
    return objective - bound <= gap * abs(objective) + GAP_TOLERANCE * max(1.0, abs(objective))


def relative_gap(objective: float, bound: float) -> float:
    """``(objective - bound) / |objective|``, never negative (inf without both)."""
    if not math.isfinite(objective) or not math.isfinite(bound):
        return math.inf
    return max(0.0, objective - bound) / max(abs(objective), 1e-9)


# ----------------------------------------------------------------------------------------------
# the budget


def _clock() -> float:
    return time.perf_counter()


@dataclass(frozen=True)
class Budget:
    """What a run may spend: wall-clock time until an absolute ``deadline`` (in
    :func:`time.perf_counter` seconds), ``work`` units, or both (whichever runs out first);
    ``cancel``, when set by the caller, stops the run as the deadline would.

    Stages take shares of a budget (:meth:`share`); a :class:`Meter` counts a stage's work.
    """

    deadline: float | None = None
    work: int | None = None
    cancel: threading.Event | None = field(default=None, compare=False)

    @staticmethod
    def start(time_limit: float | None = None, work_limit: int | None = None,
              cancel: threading.Event | None = None) -> Budget:
        """A budget starting now. ``time_limit`` in seconds (``None`` or ``inf``: no time
        limit), ``work_limit`` in work units (``None``: no work limit)."""
        limit = check_time_limit(time_limit)
        work = check_work_limit(work_limit)
        return Budget(None if limit is None else _clock() + limit, work, cancel)

    @property
    def timed(self) -> bool:
        return self.deadline is not None

    @property
    def limited(self) -> bool:
        """Does anything (time or work) bound this budget?"""
        return self.deadline is not None or self.work is not None

    def remaining(self) -> float:
        """Seconds left (inf without a deadline, 0 once cancelled)."""
        if self.cancel is not None and self.cancel.is_set():
            return 0.0
        if self.deadline is None:
            return math.inf
        return max(0.0, self.deadline - _clock())

    def expired(self) -> bool:
        """Is the time up (or the run cancelled)? Work is counted by a :class:`Meter`."""
        return self.remaining() <= 0.0

    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def share(self, fraction: float, work: float | None = None) -> Budget:
        """A budget for a stage: ``fraction`` of the time left, and ``work`` (default
        ``fraction``) of the work units."""
        if not 0.0 <= fraction <= 1.0 or (work is not None and not 0.0 <= work <= 1.0):
            raise ValueError(f"a share must be in [0, 1], got {fraction}")
        deadline = None if self.deadline is None else _clock() + fraction * self.remaining()
        w = None if self.work is None else int(math.floor(
            (fraction if work is None else work) * self.work))
        return Budget(deadline, w, self.cancel)

    def within(self, seconds: float | None) -> Budget:
        """This budget, its deadline no later than ``seconds`` from now."""
        if seconds is None:
            return self
        d = _clock() + max(0.0, seconds)
        return Budget(d if self.deadline is None else min(d, self.deadline), self.work,
                      self.cancel)

    def before(self, reserve: float) -> Budget:
        """This budget with ``reserve`` seconds kept back at its end."""
        if self.deadline is None or reserve <= 0.0:
            return self
        return Budget(self.deadline - reserve, self.work, self.cancel)

    def with_work(self, work: int | None) -> Budget:
        return Budget(self.deadline, None if work is None else max(0, int(work)), self.cancel)

    def untimed(self) -> Budget:
        return Budget(None, self.work, self.cancel)

    def meter(self) -> Meter:
        return Meter(self)


class Meter:
    """Counts the work units of one stage against its budget (one per stage and thread)."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.used = 0
        self.limit = Limit.NONE

    def spend(self, units: int = 1) -> None:
        self.used += units

    @property
    def work_left(self) -> int | None:
        return None if self.budget.work is None else max(0, self.budget.work - self.used)

    def stop(self) -> bool:
        """Should the stage stop? True once its work is spent, its time is up or the run is
        cancelled (and :attr:`limit` then says which)."""
        b = self.budget
        if b.cancelled():
            self.limit = Limit.INTERRUPTED
        elif b.work is not None and self.used >= b.work:
            self.limit = Limit.WORK
        elif b.deadline is not None and _clock() >= b.deadline:
            self.limit = Limit.TIME
        else:
            return False
        return True


def check_time_limit(v: Any, name: str = "time_limit") -> float | None:
    """``None`` or ``inf``: no limit; else finite seconds >= 0."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise OptionError(f"{name} must be a number of seconds, not {type(v).__name__}")
    f = float(v)
    if math.isnan(f) or f < 0:
        raise OptionError(f"{name} must be >= 0 seconds, got {v!r}")
    return None if math.isinf(f) else f


def check_work_limit(v: Any, name: str = "work_limit") -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) < 0:
        raise OptionError(f"{name} must be a non-negative integer, got {v!r}")
    return int(v)


def check_seed(v: Any) -> int:
    """Seeds are integers in [0, 2**63); ``None`` is 0."""
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise OptionError(f"seed must be an integer, not {type(v).__name__}")
    if not 0 <= int(v) < 2 ** 63:
        raise OptionError(f"seed must be in [0, 2**63), got {v}")
    return int(v)


def check_gap(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not math.isfinite(float(v)) or not 0.0 <= float(v) < 1.0:
        raise OptionError(f"mip_gap must be a relative gap in [0, 1), got {v!r}")
    return float(v)


def check_threads(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= int(v) <= 1024:
        raise OptionError(f"threads must be an integer in [1, 1024], got {v!r}")
    return int(v)


# ----------------------------------------------------------------------------------------------
# parameters

P = TypeVar("P", bound="Params")


def param(default: Any, *, lo: float | None = None, hi: float | None = None,
          doc: str = "") -> Any:
    """A validated parameter field: ``lo <= value <= hi`` for numbers (tuples: per item)."""
    return field(default=default, metadata={"lo": lo, "hi": hi, "doc": doc})


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field types of a parameter class (resolved once per class: a batch of
    one order must not pay for it on every call)."""
    hints = _HINTS.get(cls)
    if hints is None:  # two threads may both resolve them: the same value
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


@dataclass(frozen=True)
class Params:
    """Base class of every solver's tuning parameters: a frozen dataclass whose fields are
    checked on construction (type and range); unknown names are an :class:`OptionError`
    naming the valid ones. Subclasses declare fields with :func:`param`."""

    solver: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = _coerce(getattr(self, f.name), hints[f.name], f, type(self).solver)
            object.__setattr__(self, f.name, value)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def build(cls: type[P], options: Mapping[str, Any], solver: str = "",
              extra_valid: tuple[str, ...] = ()) -> P:
        """Parameters from keyword options; an unknown name is an error that names the valid
        ones (``extra_valid``: the run options accepted beside them, for the message)."""
        names = cls.names()
        for key in options:
            if key not in names:
                valid = sorted(set(names) | set(extra_valid))
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                who = f"solver {solver!r}" if solver else cls.__name__
                raise OptionError(f"unknown option {key!r} for {who}{hint}; valid options: "
                                  f"{', '.join(valid) or 'none'}")
        return cls(**dict(options))

    def replace(self: P, **changes: Any) -> P:
        return type(self).build({**self.as_dict(), **changes}, type(self).solver)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def describe(cls) -> list[tuple[str, str, Any, str]]:
        """(name, type, default, doc) of every parameter, for ``router solvers --params``."""
        hints = _hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            out.append((f.name, _type_label(hints[f.name]), f.default,
                        str(f.metadata.get("doc", ""))))
        return out


def _type_label(t: Any) -> str:
    origin = get_origin(t)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(t))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_label(a) for a in get_args(t))
    if origin is tuple:
        return f"tuple[{_type_label(get_args(t)[0])}, ...]"
    return "None" if t is type(None) else getattr(t, "__name__", str(t))


def _coerce(v: Any, t: Any, f: dataclasses.Field[Any], solver: str) -> Any:
    where = f"parameter {f.name!r}" + (f" of solver {solver!r}" if solver else "")
    origin = get_origin(t)
    if origin in (typing.Union, types.UnionType):
        args = get_args(t)
        if v is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(v, a, f, solver)
            except OptionError as e:
                errors.append(str(e))
        raise OptionError(errors[0] if errors else f"{where} is invalid: {v!r}")
    if origin is Literal:
        if v not in get_args(t):
            raise OptionError(f"{where} must be one of {', '.join(map(repr, get_args(t)))}, "
                              f"not {v!r}")
        return v
    if origin is tuple:
        if isinstance(v, str) or not isinstance(v, (tuple, list)):
            raise OptionError(f"{where} must be a list, not {type(v).__name__}")
        item = get_args(t)[0]
        return tuple(_coerce(x, item, f, solver) for x in v)
    if t is bool:
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        raise OptionError(f"{where} must be true or false, not {v!r}")
    if t is int:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise OptionError(f"{where} must be an integer, not {v!r}")
        v = int(v)
    elif t is float:
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise OptionError(f"{where} must be a number, not {v!r}")
        v = float(v)
        if math.isnan(v):
            raise OptionError(f"{where} must be a number, not NaN")
    elif t is str:
        if not isinstance(v, str):
            raise OptionError(f"{where} must be a string, not {v!r}")
        return v
    lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
    if lo is not None and v < lo or hi is not None and v > hi:
        rng = f"[{'-inf' if lo is None else f'{lo:g}'}, {'inf' if hi is None else f'{hi:g}'}]"
        raise OptionError(f"{where} must be in {rng}, got {v!r}")
    return v


@dataclass(frozen=True)
class NoParams(Params):
    """A solver without tuning parameters."""


# ----------------------------------------------------------------------------------------------
# what a solver gets and gives


@dataclass(frozen=True)
class Run:
    """Everything a solver is given besides the compiled problem."""

    budget: Budget
    seed: int = 0
    mip_gap: float = 1e-4
    threads: int = 1
    params: Params = field(default_factory=NoParams)
    initial: np.ndarray | None = None  # a feasible plan to start from (units per line-arc)
    verbose: bool = False

    def __post_init__(self) -> None:
        if self.initial is not None:
            a = np.array(self.initial, dtype=np.int64, copy=True)
            a.setflags(write=False)
            object.__setattr__(self, "initial", a)

    def but(self, **changes: Any) -> Run:
        """This run with some fields changed (a stage's budget, another solver's params)."""
        return dataclasses.replace(self, **changes)

    @staticmethod
    def of(time_limit: float | None = None, work_limit: int | None = None, *, seed: int = 0,
           mip_gap: float = 1e-4, threads: int = 1, params: Params | None = None,
           initial: np.ndarray | None = None, verbose: bool = False) -> Run:
        """A run whose budget starts now (for calling a solver function directly)."""
        return Run(Budget.start(time_limit, work_limit), check_seed(seed), check_gap(mip_gap),
                   check_threads(threads), params or NoParams(), initial, verbose)


@dataclass(frozen=True, slots=True)
class StageRecord:
    """One stage of a run: its name, time, work, and what it left (best plan, best bound)."""

    name: str
    seconds: float
    work: int = 0
    objective: float | None = None
    bound: float | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "seconds": round(self.seconds, 6)}
        if self.work:
            d["work"] = self.work
        if self.objective is not None and math.isfinite(self.objective):
            d["objective"] = self.objective
        if self.bound is not None and math.isfinite(self.bound):
            d["bound"] = self.bound
        if self.note:
            d["note"] = self.note
        return d


@dataclass(frozen=True)
class SolverStats:
    """Typed statistics of a solver call; ``extra`` holds figures particular to a solver."""

    build_seconds: float = 0.0  # building the model (MIP) apart from solving it
    solve_seconds: float = 0.0
    work: int = 0  # work units spent
    iterations: int = 0  # subgradient steps, simplex iterations, bidding rounds
    nodes: int = 0  # branch-and-bound nodes
    engine: str = ""  # e.g. "HiGHS via OR-Tools MathOpt"
    engine_status: str = ""
    engine_detail: str = ""
    stages: tuple[StageRecord, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def but(self, **changes: Any) -> SolverStats:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Outcome:
    """The answer of one solver call, in compiled space (units per line-arc)."""

    solver: str
    status: Status
    termination: Termination
    x: np.ndarray | None
    objective: float | None
    bound: float | None
    source: str = ""  # the stage or engine the plan came from
    stats: SolverStats = field(default_factory=SolverStats)

    def __post_init__(self) -> None:
        if self.x is not None:
            a = np.array(self.x, dtype=np.int64, copy=True)
            a.setflags(write=False)
            object.__setattr__(self, "x", a)

    @property
    def has_plan(self) -> bool:
        return self.x is not None

    def but(self, **changes: Any) -> Outcome:
        return dataclasses.replace(self, **changes)


# ----------------------------------------------------------------------------------------------
# statistics of a whole call, as the plan carries them

_RUN_FLOATS = ("seconds", "compile_seconds", "build_seconds", "solve_seconds", "verify_seconds",
               "time_limit")
_RUN_INTS = ("work_limit", "work", "iterations", "nodes")
_RUN_STRS = ("engine", "engine_status", "engine_detail")


@dataclass(frozen=True)
class RunStats(Mapping[str, Any]):
    """Statistics of one ``router.solve`` call (the plan's ``stats``): wall-clock seconds of
    the call (compilation included, file loading excluded), its parts, the limits given, and
    the solver's own figures. A read-only mapping too, as the plan file writes it."""

    seconds: float = 0.0
    compile_seconds: float = 0.0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    verify_seconds: float = 0.0
    time_limit: float | None = None
    work_limit: int | None = None
    work: int = 0
    iterations: int = 0
    nodes: int = 0
    engine: str = ""
    engine_status: str = ""
    engine_detail: str = ""
    stages: tuple[StageRecord, ...] = ()
    notes: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def of(solver: SolverStats, **figures: Any) -> RunStats:
        return RunStats(build_seconds=solver.build_seconds, solve_seconds=solver.solve_seconds,
                        work=solver.work, iterations=solver.iterations, nodes=solver.nodes,
                        engine=solver.engine, engine_status=solver.engine_status,
                        engine_detail=solver.engine_detail, stages=solver.stages,
                        notes=solver.notes, extra=dict(solver.extra), **figures)

    def _flat(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        for k in _RUN_FLOATS + _RUN_INTS + _RUN_STRS:
            v = getattr(self, k)
            if v is None or v == "" or (v == 0 and k not in ("seconds",)):
                continue
            d[k] = round(v, 6) if isinstance(v, float) else v
        if self.stages:
            d["stages"] = [s.to_dict() for s in self.stages]
        if self.notes:
            d["notes"] = list(self.notes)
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def __getitem__(self, key: str) -> Any:
        return self._flat()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._flat())

    def __len__(self) -> int:
        return len(self._flat())

    def but(self, **changes: Any) -> RunStats:
        return dataclasses.replace(self, **changes)

    @staticmethod
    def from_mapping(d: Mapping[str, Any]) -> RunStats:
        """Statistics read from a plan file: known figures typed (when of the right type),
        the rest kept in ``extra``."""
        kw: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for k, v in d.items():
            if k in _RUN_FLOATS and isinstance(v, (int, float)) and not isinstance(v, bool):
                kw[k] = float(v)
            elif k in _RUN_INTS and isinstance(v, int) and not isinstance(v, bool) or k in _RUN_STRS and isinstance(v, str):
                kw[k] = v
            elif k == "notes" and isinstance(v, list) and all(isinstance(x, str) for x in v):
                kw[k] = tuple(v)
            else:
                extra[k] = v
        return RunStats(**kw, extra=extra)
