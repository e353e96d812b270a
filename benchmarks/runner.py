"""Running solvers in isolation: one forked child per run, a hard kill past the budget.

The parent holds the loaded instance and forks a child for every run. The child, in its own
process group, calls :func:`router.solve` exactly as a user would (compilation inside the timed
call, as ``stats.seconds`` of the SPEC counts it, file loading outside), tells the parent that
the solve is over, then checks the plan with :func:`router.verify` and sends back one JSON
record. The parent kills the whole process group (engines such as CBC run as grandchildren)
when the solve overruns ``budget * grace_factor + grace`` seconds, and records ``timeout``; a
child that dies is recorded as ``crash``. Peak memory is the child's maximum resident set size
(``wait4``), which includes what the child inherited from the parent at the fork (the loaded
instance and the interpreter), reported beside it as ``base_rss_mb``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from benchmarks.suites import InstanceSpec, SolverSel, SuiteConfig, finite, suite_instances
from router.instance import GapInstance, Instance
from router.solvers.registry import SolverInfo

log = logging.getLogger(__name__)

OK_OUTCOMES = ("ok", "bound")  # a verified plan; a bound-only solver's bound
FIELDS = (
    "suite", "instance", "group", "solver", "kind", "budget", "repeat", "seed", "outcome",
    "status", "verified", "objective", "lower_bound", "seconds", "wall_seconds",
    "compile_seconds", "build_seconds", "solve_seconds", "verify_seconds", "cpu_seconds",
    "peak_rss_mb", "base_rss_mb", "n_orders", "n_lines", "n_nodes", "n_arcs", "n_line_arcs",
    "shipments", "packages_per_order", "unfilled_units", "fallback", "carried_from",
    "known_lower", "known_upper", "error",
)


@dataclass(frozen=True)
class Settings:
    """How runs are executed."""

    grace: float = 3.0  # seconds allowed past grace_factor * budget before the hard kill
    grace_factor: float = 1.5
    verify_timeout: float = 600.0  # seconds for verification once the solve is over
    seed: int = 0
    vary_seed: bool = False  # repeat r uses seed + r (default: the same seed, timing repeats)
    repeat_seconds: float = 10.0  # repeats at budget b: min(repeats, repeat_seconds / b), >= 1
    carry: bool = True  # a solver that stopped on its own is not rerun at larger budgets
    carry_fraction: float = 0.5  # "on its own": median seconds < carry_fraction * budget
    mip_gap: float = 1e-4
    threads: int = 1
    scratch: str | None = None  # directory for the children's captured output


def kill_after(budget: float, s: Settings) -> float:
    return budget * s.grace_factor + s.grace


def repeats_for(budget: float, repeats: int, s: Settings) -> int:
    if budget <= 0:
        return repeats
    return max(1, min(repeats, int(s.repeat_seconds / budget + 1e-9)))


# ---------------------------------------------------------------------------------------------
# One isolated run


def run_isolated(instance: Instance | GapInstance, solver: str, budget: float, seed: int,
                 settings: Settings, *, kind: str = "", extra: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """Solve ``instance`` with ``solver`` in a forked child; the measured record.

    For a bound-only solver (``kind="bound"``) the outcome is its lower bound; the plan that the
    pipeline pairs with it (greedy's) is verified but kept aside as ``paired_objective``."""
    scratch = settings.scratch or tempfile.gettempdir()
    fd_log, log_path = tempfile.mkstemp(prefix="bench-", suffix=".log", dir=scratch)
    os.close(fd_log)
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child; coverage does not follow forks)
        code = 70
        try:
            os.close(r)
            code = _child(instance, solver, kind, budget, seed, settings, w, log_path,
                          extra or {})
        finally:
            os._exit(code)
    os.close(w)
    rec: dict[str, Any] = {}
    try:
        rec = _supervise(pid, r, t0, budget, settings)
    finally:
        os.close(r)
        tail = _tail(log_path)
        with contextlib.suppress(OSError):
            os.unlink(log_path)
    if rec.get("outcome") in ("crash", "timeout") and tail and not rec.get("error"):
        rec["error"] = tail
    return rec


def _supervise(pid: int, r: int, t0: float, budget: float, s: Settings) -> dict[str, Any]:
    deadline = t0 + kill_after(budget, s)
    buf = b""
    solved = False
    killed = ""
    exited: tuple[int, Any] | None = None  # (status, rusage) once the child has exited
    try:
        while True:
            now = time.perf_counter()
            if now >= deadline:
                killed = "verify" if solved else "solve"
                _kill(pid)
                break
            ready, _, _ = select.select([r], [], [], min(deadline - now, 0.25))
            if not ready:
                # The child may be gone while a grandchild still holds the pipe open.
                wpid, status, ru = os.wait4(pid, os.WNOHANG)
                if wpid == pid:
                    exited = (status, ru)
                    buf += _drain(r)
                    break
                continue
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            buf += chunk
            if not solved and buf.startswith(b"S\n"):
                solved = True
                deadline = time.perf_counter() + s.verify_timeout
    except BaseException:  # e.g. KeyboardInterrupt: never leave a child running
        _kill(pid)
        if exited is None:
            os.wait4(pid, 0)
        raise
    wall = time.perf_counter() - t0
    if exited is None:
        _, status, ru = os.wait4(pid, 0)
    else:
        status, ru = exited
    # The engine's own children (e.g. CBC) may outlive a killed child: end the group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    rec: dict[str, Any] = {"wall_seconds": wall, "peak_rss_mb": ru.ru_maxrss / 1024.0,
                           "cpu_seconds": ru.ru_utime + ru.ru_stime}
    body = buf[2:] if buf.startswith(b"S\n") else buf
    if killed:
        rec.update(outcome="timeout", status="timeout",
                   error=f"killed after {wall:.2f} s ({'verification' if killed == 'verify' else 'solve'} overran)")
        return rec
    try:
        child = json.loads(body.decode("utf-8")) if body.strip() else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        child = None
    if not isinstance(child, dict):
        why = (f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
               else f"exit code {os.WEXITSTATUS(status)}")
        rec.update(outcome="crash", status="crash", error=f"child died ({why})")
        return rec
    child.update(rec)
    return child


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _drain(r: int) -> bytes:
    out = b""
    while select.select([r], [], [], 0)[0]:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        out += chunk
    return out


def _child(instance: Instance | GapInstance, solver: str, kind: str, budget: float, seed: int,
           s: Settings, w: int, log_path: str, extra: dict[str, Any]) -> int:  # pragma: no cover
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = os.fdopen(1, "w", closefd=False)
    sys.stderr = os.fdopen(2, "w", closefd=False)
    messages = _capture_logging()
    import router

    base_rss = _rss_mb()
    rec: dict[str, Any] = {"base_rss_mb": base_rss}
    try:
        t0 = time.perf_counter()
        plan = router.solve(instance, solver=solver, time_limit=budget, seed=seed,
                            mip_gap=s.mip_gap, threads=s.threads, verify=False, **extra)
        wall = time.perf_counter() - t0
        os.write(w, b"S\n")
        stats = plan.stats
        rec.update(status=plan.status, objective=finite(plan.objective),
                   lower_bound=finite(plan.lower_bound),
                   seconds=finite(stats.get("seconds")) or wall,
                   compile_seconds=finite(stats.get("compile_seconds")),
                   build_seconds=finite(stats.get("build_seconds")),
                   solve_seconds=finite(stats.get("solve_seconds")),
                   fallback=(plan.termination.fallback if plan.termination else "") or "",
                   termination=(str(plan.termination.reason) if plan.termination else ""),
                   limit=(str(plan.termination.limit) if plan.termination else ""),
                   source=plan.source)
        if plan.has_plan:
            tv = time.perf_counter()
            report = router.verify(instance, plan, raise_on_error=False)
            rec["verify_seconds"] = time.perf_counter() - tv
            rec["verified"] = bool(report.ok)
            rec["shipments"] = len(plan.shipments)
            rec["unfilled_units"] = sum(u.qty for u in plan.unfilled)
            if report.ok:
                rec["outcome"] = "ok"
            else:
                rec["outcome"] = "invalid"
                rec["error"] = "; ".join(str(v) for v in report.violations[:5])
                rec["objective_recomputed"] = report.cost.total
        else:
            rec["outcome"] = "infeasible" if plan.status == "infeasible" else "no-plan"
        if kind == "bound" and rec["outcome"] in ("ok", "no-plan"):
            rec["paired_objective"] = rec.pop("objective", None)
            rec["outcome"] = "bound" if rec.get("lower_bound") is not None else "no-plan"
        rec["stats"] = {k: v for k, v in stats.items()
                        if isinstance(v, (int, float, str, bool)) and k != "seconds"}
    except BaseException as e:  # noqa: BLE001  (anything the solver raises is a crash)
        tb = traceback.format_exception(e)
        rec.update(outcome="crash", status="crash",
                   error=f"{type(e).__name__}: {e}"[:300] + " | " + "".join(tb[-3:])[-600:])
    if messages:
        rec["log"] = messages[:10]
    data = b"\n" + json.dumps(rec, default=str, allow_nan=False).encode("utf-8")
    view = memoryview(data)
    while view:
        n = os.write(w, view)
        view = view[n:]
    os.close(w)
    return 0


def _capture_logging() -> list[str]:  # pragma: no cover  (runs in the child)
    messages: list[str] = []

    class _Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if len(messages) < 50:
                messages.append(f"{record.levelname} {record.name}: {record.getMessage()}"[:300])

    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(_Keep(level=logging.WARNING))
    root.setLevel(logging.WARNING)
    return messages


def _rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _tail(path: str, n: int = 600) -> str:
    try:
        data = Path(path).read_bytes()[-n:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace").strip()


# ---------------------------------------------------------------------------------------------
# A whole benchmark


@dataclass
class PlannedInstance:
    spec: InstanceSpec
    solvers: list[SolverInfo]


@dataclass
class Plan:
    """Every run to make, grouped by instance (the instance is loaded once)."""

    items: list[PlannedInstance]
    repeats: dict[str, int]  # suite -> repeats
    settings: Settings
    skipped_solvers: dict[str, str] = field(default_factory=dict)

    def runs(self) -> int:
        return sum(len(it.solvers) * sum(repeats_for(b, self.repeats[it.spec.suite],
                                                     self.settings) for b in it.spec.budgets)
                   for it in self.items)

    def worst_seconds(self) -> float:
        """An upper bound on the wall time: every run uses its full budget, plus overheads
        (compilation and verification, which grow with the orders of the batch)."""
        return self.expected_seconds({})[0]

    def expected_seconds(self, history: dict[tuple[str, str, str, float], float]
                         ) -> tuple[float, int]:
        """Wall time expected from ``history`` (median wall seconds of earlier runs per
        (suite, instance, solver, budget)), the worst case where it has no entry; also how
        many runs the history covered. A solver that stopped on its own well within a budget
        is carried to the larger ones, as :func:`execute` does."""
        total = 0.0
        known = 0
        for it in self.items:
            per_run = 0.1 + 8e-5 * it.spec.size_hint
            total += 1.0 + 2e-4 * it.spec.size_hint  # loading or generating the instance
            for info in it.solvers:
                carried = False
                for b in it.spec.budgets:
                    k = repeats_for(b, self.repeats[it.spec.suite], self.settings)
                    if carried:
                        continue
                    h = history.get((it.spec.suite, it.spec.name, info.name, b))
                    if h is None:
                        total += k * (b + per_run)
                        continue
                    known += k
                    total += k * h
                    carried = (self.settings.carry
                               and h < self.settings.carry_fraction * b)
        return total, known


def make_plan(suites: Sequence[tuple[str, SuiteConfig]], sel: SolverSel,
              settings: Settings) -> Plan:
    solvers = sel.select()
    items = []
    repeats = {}
    for name, cfg in suites:
        repeats[name] = cfg.repeats
        for spec in suite_instances(name, cfg):
            chosen = [s for s in solvers if spec.kinds is None or s.kind in spec.kinds]
            if chosen and spec.budgets:
                items.append(PlannedInstance(spec, chosen))
    return Plan(items, repeats, settings, dict(sel.skipped))


def execute(plan: Plan, sink: Callable[[dict[str, Any]], None],
            progress: TextIO | None = sys.stderr) -> list[dict[str, Any]]:
    """Run every planned run in sequence, passing each record to ``sink`` as it comes."""
    from router.compile import compile_problem

    s = plan.settings
    total = plan.runs()
    done = 0
    records: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    worst_left = plan.worst_seconds()

    def emit(rec: dict[str, Any]) -> None:
        records.append(rec)
        sink(rec)

    for item in plan.items:
        spec = item.spec
        base = {"suite": spec.suite, "instance": spec.name, "group": spec.group,
                "known_lower": spec.known_lower, "known_upper": spec.known_upper}
        item_runs = sum(len(item.solvers) * repeats_for(b, plan.repeats[spec.suite], s)
                        for b in spec.budgets)
        try:
            t0 = time.perf_counter()
            inst = spec.load()
            problem = compile_problem(inst)
            size = {"n_orders": problem.n_orders, "n_lines": problem.n_lines,
                    "n_nodes": problem.n_nodes, "n_arcs": problem.n_arcs,
                    "n_line_arcs": problem.n_line_arcs}
            del problem
            _say(progress, f"{spec.key}: {size['n_orders']} orders, {size['n_nodes']} nodes, "
                           f"{size['n_arcs']} arcs (loaded in {time.perf_counter() - t0:.2f} s)")
        except Exception as e:  # noqa: BLE001  (a broken instance must not end the run)
            for info in item.solvers:
                emit({**base, "solver": info.name, "kind": info.kind, "outcome": "load-error",
                      "status": "load-error", "error": f"{type(e).__name__}: {e}"[:300]})
            done += item_runs
            _say(progress, f"{spec.key}: cannot load: {e}")
            continue
        base.update(size)
        for info in item.solvers:
            carried: list[dict[str, Any]] | None = None
            for budget in spec.budgets:
                k = repeats_for(budget, plan.repeats[spec.suite], s)
                if carried is not None:
                    for old in carried:  # every repeat, so that the statistics agree
                        emit({**old, "budget": budget, "carried_from": old["budget"]})
                    done += k
                    elapsed = time.perf_counter() - t_start
                    _say(progress, f"[{done:>5}/{total} {_mmss(elapsed)}] {spec.key} "
                                   f"{info.name} {budget:g}s: same as "
                                   f"{carried[0]['budget']:g}s (stopped on its own)")
                    continue
                group: list[dict[str, Any]] = []
                for rep in range(k):
                    seed = s.seed + (rep if s.vary_seed else 0)
                    rec = run_isolated(inst, info.name, budget, seed, s, kind=info.kind)
                    rec = {**base, "solver": info.name, "kind": info.kind, "budget": budget,
                           "repeat": rep, "seed": seed, **rec}
                    rec.setdefault("status", rec.get("outcome"))
                    _derive(rec)
                    emit(rec)
                    group.append(rec)
                    done += 1
                    worst_left -= budget
                    elapsed = time.perf_counter() - t_start
                    _say(progress, f"[{done:>5}/{total} {_mmss(elapsed)}] {spec.key} "
                                   f"{info.name} {budget:g}s #{rep + 1}: {_brief(rec)}")
                if s.carry and _stopped_on_its_own(group, budget, s.carry_fraction):
                    carried = group
        del inst
    return records


def _stopped_on_its_own(group: list[dict[str, Any]], budget: float, fraction: float) -> bool:
    """Would these runs give the same answer with more time? Yes when every one succeeded
    well within ``budget`` with the solver's own answer. A plan that fell back to the
    incumbent (the engine was not started or found nothing in the time) is not its answer at
    a larger budget; a bound-only solver always returns the incumbent beside its bound."""
    return (all(g["outcome"] in OK_OUTCOMES
                and (g.get("kind") == "bound" or not g.get("fallback")) for g in group)
            and statistics.median(g.get("seconds") or budget for g in group)
            < fraction * budget)


def _derive(rec: dict[str, Any]) -> None:
    n = rec.get("n_orders") or 0
    if rec.get("shipments") is not None and n:
        rec["packages_per_order"] = rec["shipments"] / n


def _brief(rec: dict[str, Any]) -> str:
    out = rec.get("outcome", "?")
    parts = [out]
    if rec.get("objective") is not None and out in ("ok", "invalid"):
        parts.append(f"cost {rec['objective']:.2f}")
    if rec.get("lower_bound") is not None:
        parts.append(f"bound {rec['lower_bound']:.2f}")
    ref = rec.get("known_upper")
    if out == "ok" and ref and rec.get("objective") is not None:
        parts.append(f"vs best known {100 * (rec['objective'] - ref) / abs(ref):+.2f}%")
    if rec.get("seconds") is not None:
        parts.append(f"{rec['seconds']:.3f} s")
    if rec.get("peak_rss_mb") is not None:
        parts.append(f"{rec['peak_rss_mb']:.0f} MB")
    if rec.get("fallback"):
        parts.append("fallback")
    if rec.get("error") and out not in ("ok", "bound"):
        parts.append(str(rec["error"]).splitlines()[0][:120])
    return "  ".join(parts)


def _mmss(sec: float) -> str:
    m, s = divmod(int(sec), 60)
    return f"{m}:{s:02d}"


def _say(stream: TextIO | None, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


@contextlib.contextmanager
def jsonl_sink(path: Path, append: bool = False) -> Iterator[Callable[[dict[str, Any]], None]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as f:
        def sink(rec: dict[str, Any]) -> None:
            f.write(json.dumps(rec, default=str) + "\n")
            f.flush()
        yield sink
