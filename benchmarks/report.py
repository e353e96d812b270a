"""From per-run records to results: references, summaries, CSV files and the Markdown report.

Definitions (stated in the report too):

- *best bound* of an instance: the largest proven lower bound, over the published bound and
  every run that returned a verified plan or a bound-only answer; a bound above a verified plan's
  cost is wrong, listed as a problem and not used.
- *best plan*: the lowest cost over every verified plan of any run and the published best
  solution. ``gap to bound`` = (cost - best bound) / cost; ``extra`` = (cost - best plan) / best
  plan, both in %.
- A run counts only with a verified plan (outcome ``ok``); ``invalid`` (failed verification),
  ``timeout``, ``crash``, ``no-plan`` and ``infeasible`` are failures and never a cost.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.runner import FIELDS, OK_OUTCOMES
from benchmarks.suites import PRESETS, RULE_BASELINES, kind_label, solver_rank

TOL = 1e-6
GROUP_ORDER = ["hand", "gap1-12", "A", "B", "C", "D", "E", *PRESETS]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


_TEXT_FIELDS = {"suite", "instance", "group", "solver", "kind", "outcome", "status",
                "fallback", "error"}


def read_runs_csv(path: Path) -> list[dict[str, Any]]:
    """Per-run records back from ``runs.csv`` (the committed form of ``runs.jsonl``)."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            rec: dict[str, Any] = {}
            for k, v in row.items():
                if k in _TEXT_FIELDS:
                    rec[k] = v
                elif v == "":
                    rec[k] = None
                elif v in ("True", "False"):
                    rec[k] = v == "True"
                else:
                    num = float(v)
                    rec[k] = int(num) if k in ("repeat", "seed") else num
            out.append(rec)
    return out


# ---------------------------------------------------------------------------------------------
# References per instance


@dataclass
class Reference:
    best_bound: float | None = None
    best_plan: float | None = None
    best_plan_by: str = ""
    bad_bounds: list[str] = field(default_factory=list)


def references(records: Sequence[dict[str, Any]]) -> dict[tuple[str, str], Reference]:
    by_inst: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_inst[(r["suite"], r["instance"])].append(r)
    refs = {}
    for key, rs in by_inst.items():
        ref = Reference()
        plans = [(r["objective"], r["solver"]) for r in rs
                 if r.get("outcome") == "ok" and r.get("objective") is not None]
        known_by = "published" if key[0] != "saleday" else "reference run"
        known_up = rs[0].get("known_upper")
        if known_up is not None:  # first, so that a tie names the published plan
            plans.insert(0, (float(known_up), known_by))
        if plans:
            ref.best_plan, ref.best_plan_by = min(plans, key=lambda p: p[0])
        bounds = [(r["lower_bound"], r["solver"]) for r in rs
                  if r.get("outcome") in OK_OUTCOMES and r.get("lower_bound") is not None
                  and not r.get("carried_from")]
        known_lo = rs[0].get("known_lower")
        if known_lo is not None:
            bounds.append((float(known_lo), known_by))
        good = []
        for b, who in bounds:
            if ref.best_plan is not None and b > ref.best_plan + TOL * max(1.0, abs(b)):
                ref.bad_bounds.append(f"{who}: bound {b:.6g} above the best plan "
                                      f"{ref.best_plan:.6g}")
            else:
                good.append(b)
        ref.best_bound = max(good) if good else None
        refs[key] = ref
    return refs


def pct_over(cost: float | None, ref: float | None) -> float | None:
    if cost is None or ref is None:
        return None
    return 100.0 * (cost - ref) / max(abs(ref), 1e-9)


def pct_gap(cost: float | None, bound: float | None) -> float | None:
    if cost is None or bound is None:
        return None
    return 100.0 * max(0.0, cost - bound) / max(abs(cost), 1e-9)


# ---------------------------------------------------------------------------------------------
# Summary per (suite, instance, solver, budget)


@dataclass
class Cell:
    suite: str
    instance: str
    group: str
    solver: str
    kind: str
    budget: float
    runs: int
    ok: int
    outcomes: dict[str, int]
    n_orders: int | None
    seconds_median: float | None
    seconds_min: float | None
    seconds_max: float | None
    cpu_seconds: float | None  # median CPU seconds of the child (user + system)
    cost: float | None  # median over verified plans
    cost_spread: float | None  # max - min over verified plans
    lower_bound: float | None
    status: str
    gap_bound: float | None
    extra: float | None
    bound_gap: float | None  # (best plan - own bound) / best plan: how tight the bound is
    packages_per_order: float | None
    unfilled_units: float | None
    peak_rss_mb: float | None
    base_rss_mb: float | None
    fallback: int
    carried: bool
    errors: list[str]

    @property
    def failed(self) -> bool:
        return self.ok < self.runs

    @property
    def orders_per_s(self) -> float | None:
        if not self.n_orders or not self.seconds_median or self.kind == "bound":
            return None
        return self.n_orders / self.seconds_median


def summarise(records: Sequence[dict[str, Any]],
              refs: dict[tuple[str, str], Reference]) -> list[Cell]:
    groups: dict[tuple[str, str, str, float], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("budget") is None:  # a load error: one record per solver
            groups[(r["suite"], r["instance"], r["solver"], math.nan)].append(r)
            continue
        groups[(r["suite"], r["instance"], r["solver"], float(r["budget"]))].append(r)
    cells = []
    for (suite, inst, solver, budget), rs in groups.items():
        src = rs[0].get("carried_from")
        if src is not None and all(r.get("carried_from") == src for r in rs):
            # A carried result stands for every repeat of the run it was carried from.
            rs = groups.get((suite, inst, solver, float(src)), rs)
        ref = refs.get((suite, inst), Reference())
        ok = [r for r in rs if r.get("outcome") in OK_OUTCOMES]
        plans = [r for r in ok if r.get("outcome") == "ok" and r.get("objective") is not None]
        secs = [r["seconds"] for r in ok if r.get("seconds") is not None]
        costs = [r["objective"] for r in plans]
        bounds = [r["lower_bound"] for r in ok if r.get("lower_bound") is not None]
        outcomes: dict[str, int] = defaultdict(int)
        for r in rs:
            outcomes[r.get("outcome", "?")] += 1
        statuses = (["bound"] if rs[0].get("kind") == "bound" and ok
                    else sorted({str(r.get("status")) for r in ok}))
        cost = statistics.median(costs) if costs else None
        cells.append(Cell(
            suite=suite, instance=inst, group=rs[0].get("group", ""), solver=solver,
            kind=rs[0].get("kind", ""), budget=budget, runs=len(rs), ok=len(ok),
            outcomes=dict(outcomes), n_orders=rs[0].get("n_orders"),
            seconds_median=statistics.median(secs) if secs else None,
            seconds_min=min(secs) if secs else None, seconds_max=max(secs) if secs else None,
            cpu_seconds=_median(r.get("cpu_seconds") for r in ok),
            cost=cost, cost_spread=(max(costs) - min(costs)) if costs else None,
            lower_bound=max(bounds) if bounds else None,
            status="/".join(statuses) if statuses else "",
            gap_bound=pct_gap(cost, ref.best_bound), extra=pct_over(cost, ref.best_plan),
            bound_gap=pct_gap(ref.best_plan, max(bounds)) if bounds else None,
            packages_per_order=_median(r.get("packages_per_order") for r in plans),
            unfilled_units=_median(r.get("unfilled_units") for r in plans),
            peak_rss_mb=_max(r.get("peak_rss_mb") for r in rs),
            base_rss_mb=_max(r.get("base_rss_mb") for r in rs),
            fallback=sum(1 for r in rs if r.get("fallback")),
            carried=src is not None,
            errors=sorted({str(r.get("error")).splitlines()[0][:200] for r in rs
                           if r.get("outcome") not in OK_OUTCOMES and r.get("error")})))
    cells.sort(key=lambda c: (c.suite, _group_rank(c.group), c.n_orders or 0, c.instance,
                              solver_rank(c.solver, c.kind), c.budget))
    return cells


def _median(vals: Iterable[Any]) -> float | None:
    v = [float(x) for x in vals if x is not None]
    return statistics.median(v) if v else None


def _max(vals: Iterable[Any]) -> float | None:
    v = [float(x) for x in vals if x is not None]
    return max(v) if v else None


def _group_rank(g: str) -> int:
    return GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER)


# ---------------------------------------------------------------------------------------------
# Aggregates over the instances of a group


@dataclass
class Agg:
    n: int  # instances
    ok: int  # instances where every run gave a verified plan (or bound)
    extra: float | None  # mean % over the best plan, over the instances with a plan
    extra_max: float | None
    gap_bound: float | None
    seconds: float | None  # mean of the median seconds
    optimal: int  # instances proven optimal
    orders_per_s: float | None
    bound_gap: float | None  # mean over the instances with a bound


def aggregate(cells: Sequence[Cell]) -> Agg:
    extras = [c.extra for c in cells if c.extra is not None and not c.failed]
    gaps = [c.gap_bound for c in cells if c.gap_bound is not None and not c.failed]
    secs = [c.seconds_median for c in cells if c.seconds_median is not None]
    ops = [c.orders_per_s for c in cells if c.orders_per_s is not None and not c.failed]
    bgs = [c.bound_gap for c in cells if c.bound_gap is not None and not c.failed]
    return Agg(n=len(cells), ok=sum(1 for c in cells if not c.failed),
               extra=statistics.fmean(extras) if extras else None,
               extra_max=max(extras) if extras else None,
               gap_bound=statistics.fmean(gaps) if gaps else None,
               seconds=statistics.fmean(secs) if secs else None,
               optimal=sum(1 for c in cells if c.status == "optimal" and not c.failed),
               orders_per_s=statistics.fmean(ops) if ops else None,
               bound_gap=statistics.fmean(bgs) if bgs else None)


# ---------------------------------------------------------------------------------------------
# Output files


def write_runs_csv(records: Sequence[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(FIELDS), extrasaction="ignore")
        w.writeheader()
        for r in records:
            w.writerow({k: _csv_val(r.get(k), exact=True) for k in FIELDS})


SUMMARY_FIELDS = ("suite", "group", "instance", "n_orders", "solver", "kind", "budget", "runs",
                  "ok", "outcomes", "status", "cost", "cost_spread", "lower_bound",
                  "best_bound", "best_plan", "gap_bound_pct", "extra_pct", "seconds_median",
                  "seconds_min", "seconds_max", "cpu_seconds", "orders_per_s", "packages_per_order",
                  "unfilled_units", "peak_rss_mb", "base_rss_mb", "fallback", "carried")


def write_summary_csv(cells: Sequence[Cell], refs: dict[tuple[str, str], Reference],
                      path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(SUMMARY_FIELDS)
        for c in cells:
            ref = refs.get((c.suite, c.instance), Reference())
            row = [c.suite, c.group, c.instance, c.n_orders, c.solver, c.kind, c.budget, c.runs,
                   c.ok, ";".join(f"{k}={v}" for k, v in sorted(c.outcomes.items())), c.status,
                   c.cost, c.cost_spread, c.lower_bound, ref.best_bound, ref.best_plan,
                   c.gap_bound, c.extra, c.seconds_median, c.seconds_min, c.seconds_max,
                   c.cpu_seconds, c.orders_per_s, c.packages_per_order, c.unfilled_units, c.peak_rss_mb,
                   c.base_rss_mb, c.fallback, c.carried]
            w.writerow([_csv_val(v) for v in row])


def _csv_val(v: Any, exact: bool = False) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        return repr(v) if exact else f"{v:.12g}"  # repr: the shortest exact form
    if isinstance(v, str):
        return v.replace("\n", " | ")
    return v


# ---------------------------------------------------------------------------------------------
# Markdown


def _f(v: float | None, fmt: str = ".2f", none: str = "–") -> str:
    return none if v is None else format(v, fmt)


def _pct(v: float | None) -> str:
    if v is None:
        return "–"
    if abs(v) < 0.005:
        return "0.00%"
    return f"{v:.2f}%"


def _secs(v: float | None) -> str:
    if v is None:
        return "–"
    if v < 0.01:
        return f"{1000 * v:.2f} ms"
    if v < 1:
        return f"{1000 * v:.0f} ms"
    return f"{v:.2f} s"


def _rate(v: float | None) -> str:
    if v is None:
        return "–"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M"
    if v >= 1e3:
        return f"{v / 1e3:.1f} k"
    return f"{v:.0f}"


def _budget(b: float) -> str:
    return "–" if math.isnan(b) else f"{b:g} s"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]],
           align: Sequence[str] | None = None) -> list[str]:
    align = align or ["l"] + ["r"] * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _failure_text(c: Cell) -> str:
    bad = {k: v for k, v in c.outcomes.items() if k not in OK_OUTCOMES}
    return ", ".join(f"**{k.upper()}**" + (f"×{v}" if v > 1 else "") for k, v in bad.items())


def _cost_cell(c: Cell) -> str:
    if c.failed and c.ok == 0:
        return _failure_text(c)
    s = _f(c.cost) if c.kind != "bound" else "(bound)"
    if c.failed:
        s += " " + _failure_text(c)
    return s


@dataclass
class Context:
    records: list[dict[str, Any]]
    refs: dict[tuple[str, str], Reference]
    cells: list[Cell]

    def suites(self) -> list[str]:
        order = ["smoke", "gap", "gaplarge", "saleday"]
        present = {c.suite for c in self.cells}
        return [s for s in order if s in present] + sorted(present - set(order))

    def of(self, suite: str) -> list[Cell]:
        return [c for c in self.cells if c.suite == suite]


def build_context(records: Sequence[dict[str, Any]]) -> Context:
    recs = list(records)
    refs = references(recs)
    return Context(recs, refs, summarise(recs, refs))


def markdown(ctx: Context, meta: dict[str, Any], plots: Sequence[str] = ()) -> str:
    out: list[str] = ["# Benchmark results", ""]
    out += _header(meta, ctx)
    out += _headline(ctx)
    out += _paper_tables(ctx)
    out += seeds_section(ctx)
    for suite in ctx.suites():
        out += _suite_section(ctx, suite)
    out += _problems(ctx)
    if plots:
        out += ["## Plots", ""]
        for p in plots:
            out += [f"![{p}]({p})", ""]
    return "\n".join(out).rstrip() + "\n"


def _header(meta: dict[str, Any], ctx: Context) -> list[str]:
    m = meta.get("machine", {})
    v = meta.get("versions", {})
    out = []
    cmds = meta.get("commands") or []
    out += ["Produced by:", "", "```sh", *cmds, "```", ""]
    out += [f"- Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores "
            f"({m.get('usable_cores', '?')} usable), {m.get('memory_gb', '?')} GB memory, "
            f"{m.get('os', '?')}",
            "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
            f"- Source revision: {meta.get('git') or 'unknown'}",
            f"- Date: {meta.get('started', '?')}; wall time of the benchmark: "
            f"{_secs(meta.get('wall_seconds'))}; runs: {len(ctx.records)}",
            f"- Load average (1 min) of the machine at the start and end: "
            f"{meta.get('load_start', '?')} / {meta.get('load_end', '?')} (other work running "
            "beside the benchmark slows the timings; CPU seconds per run are in the CSV files)",
            "- Runs are sequential, one solver at a time, each in its own forked process; "
            "times are `stats.seconds` of the plan (compilation included, loading excluded). "
            "Single-threaded engines (threads=1).",
            ""]
    s = meta.get("settings", {})
    if s:
        out += [f"- Hard kill at {s.get('grace_factor', '?')} × budget + {s.get('grace', '?')} s "
                "(recorded as TIMEOUT); a solver that stopped on its own in under "
                f"{s.get('carry_fraction', '?')} × a budget is not rerun at larger budgets "
                "(its result is carried, marked *); a run that fell back to the incumbent is "
                "never carried.", ""]
    out += ["Definitions: *best plan* = lowest verified cost of any run or the published "
            "optimum; *best bound* = largest proven lower bound (published or from any run); "
            "**extra** = (cost − best plan) / best plan; **gap** = (cost − best bound) / cost. "
            "A plan that fails verification, a timeout or a crash is a failure, never a cost.",
            ""]
    return out


def _presets_in(ctx: Context) -> list[tuple[str, list[Cell]]]:
    """Instance sets for the cross tables: each saleday preset, each GAP group."""
    sets: list[tuple[str, list[Cell]]] = []
    sale = ctx.of("saleday")
    for p in PRESETS:
        cs = [c for c in sale if c.group == p]
        if cs:
            sets.append((p, cs))
    gap = ctx.of("gap")
    for g in ["gap1-12", "A", "B", "C", "D", "E"]:
        cs = [c for c in gap if c.group == g]
        if cs:
            sets.append((f"GAP {g}", cs))
    large = ctx.of("gaplarge")
    for g in ["C", "D", "E"]:
        for size, label in ((lambda n: n <= 200, "n <= 200"), (lambda n: n > 200, "n > 200")):
            cs = [c for c in large if c.group == g and size(c.n_orders or 0)]
            if cs:
                sets.append((f"GAP {g} {label}", cs))
    if not sets:
        smoke = ctx.of("smoke")
        for g in sorted({c.group for c in smoke}, key=_group_rank):
            sets.append((f"smoke {g}", [c for c in smoke if c.group == g]))
    return sets


def _headline(ctx: Context) -> list[str]:
    sale = ctx.of("saleday")
    sets = [(p, [c for c in sale if c.group == p]) for p in PRESETS]
    sets = [(p, cs) for p, cs in sets if cs]
    if not sets:
        sets = [(name, cs) for name, cs in _presets_in(ctx)]
    if not sets:
        return []
    out = ["## Headline", "",
           "Per batch size: the best plan found (solver and budget), its gap to the best bound "
           "and its time; the extra cost of the industry rules over the best plan (each rule at "
           "its best budget); the fastest solver and budget (rules apart) whose plans cost no "
           "more than the best rule's, and its throughput.", ""]
    rows = []
    for name, cs in sets:
        insts = sorted({c.instance for c in cs})
        n_orders = statistics.fmean([c.n_orders for c in cs if c.n_orders] or [0])
        best = _best_entry(cs)
        if best is None:
            rows.append([name, f"{n_orders:.0f}", "no verified plan", "–", "–", "–", "–", "–"])
            continue
        solver, budget, agg = best
        rule = []
        for rb in RULE_BASELINES:
            rc = rule_cells(cs, rb)
            rule.append("+" + _pct(aggregate(rc).extra) if rc else "–")
        fast = _fastest(cs)
        rows.append([name, f"{n_orders:,.0f}" + (f" ×{len(insts)}" if len(insts) > 1 else ""),
                     f"{solver} @ {budget:g} s", _pct(agg.gap_bound), _secs(agg.seconds),
                     *rule, fast])
    out += _table(["batch", "orders", "best plan", "gap to bound", "time",
                   *(f"{rb} extra" for rb in RULE_BASELINES),
                   "fastest solver at least as good as the rules (orders/s)"], rows)
    return [*out, ""]


def _best_entry(cs: Sequence[Cell]) -> tuple[str, float, Agg] | None:
    """The (solver, budget) with the lowest mean extra over the set (all instances solved),
    ties broken by time."""
    by: dict[tuple[str, float], list[Cell]] = defaultdict(list)
    for c in cs:
        if c.kind != "bound":
            by[(c.solver, c.budget)].append(c)
    n_inst = len({c.instance for c in cs})
    cands = []
    for (solver, budget), group in by.items():
        agg = aggregate(group)
        if agg.ok == n_inst and agg.extra is not None:
            cands.append((round(agg.extra, 6), agg.seconds or math.inf, solver, budget, agg))
    if not cands:
        return None
    _, _, solver, budget, agg = min(cands, key=lambda t: (t[0], t[1], t[3]))
    return solver, budget, agg


def rule_cells(cs: Sequence[Cell], rule: str) -> list[Cell]:
    """Per instance, the rule's best verified result over its budgets (a rule does not improve
    with time; a small budget can only cut it short), ties to the smaller budget."""
    best: dict[str, Cell] = {}
    for c in sorted(cs, key=lambda c: c.budget):
        if c.solver != rule or c.failed or c.extra is None:
            continue
        prev = best.get(c.instance)
        if prev is None or prev.extra is None or c.extra < prev.extra - 1e-9:
            best[c.instance] = c
    return list(best.values())


def rule_limits(cs: Sequence[Cell]) -> dict[str, float]:
    """Per instance, the cost of the best rule-baseline plan (where a rule ran)."""
    limit: dict[str, float] = {}
    for rb in RULE_BASELINES:
        for c in rule_cells(cs, rb):
            if c.cost is not None:
                limit[c.instance] = min(limit.get(c.instance, math.inf), c.cost)
    return limit


def as_good_as_rules(group: Sequence[Cell], limit: dict[str, float]) -> bool:
    return all(c.cost is not None and not c.failed
               and c.cost <= limit.get(c.instance, math.inf) + 1e-6 * abs(c.cost)
               for c in group)


def _fastest(cs: Sequence[Cell]) -> str:
    """The (solver, budget), rules apart, with the most orders per second whose plans all cost
    no more than the best rule baseline's on each instance (where the rules ran): the fastest
    way to do at least as well as the rules. An empty plan that a budget cut short does not
    count; on a tie the smaller budget."""
    limit = rule_limits(cs)
    best: tuple[float, str, float] | None = None
    by: dict[tuple[str, float], list[Cell]] = defaultdict(list)
    for c in cs:
        if c.kind != "bound":
            by[(c.solver, c.budget)].append(c)
    n_inst = len({c.instance for c in cs})
    for (solver, budget), group in sorted(by.items(), key=lambda kv: kv[0][1]):
        agg = aggregate(group)
        if solver in RULE_BASELINES or agg.ok != n_inst or agg.orders_per_s is None:
            continue
        if not as_good_as_rules(group, limit):
            continue
        if best is None or agg.orders_per_s > best[0]:
            best = (agg.orders_per_s, solver, budget)
    return "–" if best is None else f"{best[1]} @ {best[2]:g} s ({_rate(best[0])})"


def _families(ctx: Context) -> list[tuple[str, list[tuple[str, list[Cell]]]]]:
    """Instance sets for the cross tables, by family: sale-day presets, GAP groups (the smoke
    suite's groups when neither ran)."""
    sets = _presets_in(ctx)
    sale = [(n, cs) for n, cs in sets if cs and cs[0].suite == "saleday"]
    gap = [(n.removeprefix("GAP "), cs) for n, cs in sets
           if cs and cs[0].suite in ("gap", "gaplarge")]
    other = [(n, cs) for n, cs in sets if cs and cs[0].suite not in ("saleday", "gap",
                                                                      "gaplarge")]
    fams = [("Sale-day batches (preset)", sale), ("GAP instances (group)", gap),
            ("Smoke instances", other)]
    return [(f, s) for f, s in fams if s]


def _paper_tables(ctx: Context) -> list[str]:
    fams = _families(ctx)
    if not fams:
        return []
    all_cells = [c for _, sets in fams for _, cs in sets for c in cs]
    solvers = sorted({(c.solver, c.kind) for c in all_cells}, key=lambda sk: solver_rank(*sk))
    mips = [s for s, k in solvers if k in ("mip", "bound")]
    heur = [s for s, k in solvers if k in ("heuristic", "portfolio") and s not in RULE_BASELINES]
    rules = [s for s, k in solvers if s in RULE_BASELINES]
    legend = ("Each cell: mean extra cost over the best plan / mean time (mean gap to the best "
              "bound in brackets where it differs); `k/n` when only k of n instances gave a "
              "verified plan in every run; `[n of m]` when the budget ran on n of the group's m "
              "instances only.")
    out: list[str] = []

    def rows_for(sets: list[tuple[str, list[Cell]]], names: list[str],
                 best_mip: bool) -> list[list[str]]:
        budgets = sorted({c.budget for _, cs in sets for c in cs if not math.isnan(c.budget)})
        rows = []
        for b in budgets:
            for s in names:
                cellz = []
                any_data = False
                for _, cs in sets:
                    mine = [c for c in cs if c.solver == s and c.budget == b]
                    if mine:
                        any_data = True
                        agg = aggregate(mine)
                        text = _agg_text(agg, mine[0].kind)
                        n_all = len({c.instance for c in cs})
                        if agg.n < n_all:  # e.g. a longer budget on part of the group only
                            text += f" [{agg.n} of {n_all}]"
                        cellz.append(text)
                    else:
                        cellz.append("")
                if any_data:
                    rows.append([s, f"{b:g} s", *cellz])
            if best_mip and any(c.budget == b and c.kind == "mip" for _, cs in sets for c in cs):
                rows.append(["*best MIP*", f"{b:g} s", *_best_of(sets, mips, b)])
        return rows

    for title, names, best_mip, note in (
            ("MIP backends against each other", mips, False, ""),
            ("Heuristics and auto against the MIP backends", heur, True,
             " *best MIP* is the best MIP backend of the same budget on each set.")):
        if not names:
            continue
        out += [f"## {title}", "", legend + note, ""]
        for fam, all_sets in fams:
            sets = [(n, cs) for n, cs in all_sets if any(c.solver in names for c in cs)]
            rows = rows_for(sets, names, best_mip)
            if rows:
                out += [f"### {fam}", ""]
                out += _table(["solver", "budget", *(n for n, _ in sets)], rows) + [""]
    if rules:
        out += ["## Industry rule baselines", "",
                "Extra cost of the rules over the best plan (mean over the instances, worst in "
                "brackets) and their time, each rule at its best budget per instance (a rule "
                "does not improve with time; a small budget can only cut it short).", ""]
        for fam, sets in fams:
            rows = []
            for s in rules:
                cellz = []
                for _, cs in sets:
                    chosen = rule_cells(cs, s)
                    mine = [c for c in cs if c.solver == s]
                    agg = aggregate(chosen) if chosen else None
                    if agg is None or agg.extra is None:
                        cellz.append("–" if not mine else
                                     f"0/{len({c.instance for c in mine})} verified")
                    else:
                        cellz.append(f"+{_pct(agg.extra)} (max +{_pct(agg.extra_max)}) / "
                                     f"{_secs(agg.seconds)}")
                rows.append([s, *cellz])
            out += [f"### {fam}", ""]
            out += _table(["rule", *(n for n, _ in sets)], rows) + [""]
    return out


def _best_of(sets: Sequence[tuple[str, list[Cell]]], mips: Sequence[str],
             budget: float) -> list[str]:
    cellz = []
    for _, cs in sets:
        best: tuple[float, Agg, str] | None = None
        for s in mips:
            mine = [c for c in cs if c.solver == s and c.budget == budget and c.kind == "mip"]
            if not mine:
                continue
            agg = aggregate(mine)
            if agg.extra is not None and agg.ok == agg.n and (best is None
                                                               or agg.extra < best[0]):
                best = (agg.extra, agg, s)
        cellz.append("–" if best is None else f"{_agg_text(best[1], 'mip')} ({best[2]})")
    return cellz


def _agg_text(agg: Agg, kind: str) -> str:
    if kind == "bound":
        return f"bound {_pct(agg.bound_gap)} below / {_secs(agg.seconds)}" if agg.ok else (
            f"{agg.ok}/{agg.n}")
    if agg.extra is None:
        return f"0/{agg.n} verified"
    s = f"+{_pct(agg.extra)} / {_secs(agg.seconds)}"
    if agg.gap_bound is not None and abs(agg.gap_bound - agg.extra) > 0.005:
        s += f" ({_pct(agg.gap_bound)})"
    if agg.ok < agg.n:
        s += f" {agg.ok}/{agg.n}"
    return s


def _suite_section(ctx: Context, suite: str) -> list[str]:
    cells = ctx.of(suite)
    out = [f"## Suite `{suite}`", ""]
    if suite in ("gap", "gaplarge"):
        return out + _gap_table(cells)
    if suite == "smoke":
        return out + _matrix(cells)
    by_group: dict[str, list[Cell]] = defaultdict(list)
    for c in cells:
        by_group[c.group].append(c)
    for g in sorted(by_group, key=_group_rank):
        cs = by_group[g]
        insts = sorted({c.instance for c in cs}, key=lambda i: next(c.n_orders or 0 for c in cs
                                                                    if c.instance == i))
        for inst in insts:
            mine = [c for c in cs if c.instance == inst]
            ref = ctx.refs.get((suite, inst), Reference())
            n = mine[0].n_orders
            out += [f"### {inst} ({n} orders; best plan {_f(ref.best_plan)} by "
                    f"{ref.best_plan_by or '–'}; best bound {_f(ref.best_bound)})", ""]
            rows = []
            for c in mine:
                spread = ("" if c.seconds_min is None or c.runs < 2 else
                          f" [{_secs(c.seconds_min)}–{_secs(c.seconds_max)}]")
                rows.append([c.solver + ("*" if c.carried else ""), kind_label(c.solver, c.kind),
                             _budget(c.budget), f"{c.ok}/{c.runs}", c.status or "–",
                             _cost_cell(c), _f(c.lower_bound), _pct(c.gap_bound),
                             _pct(c.extra), _secs(c.seconds_median) + spread,
                             _rate(c.orders_per_s), _f(c.packages_per_order, ".3f"),
                             _f(c.unfilled_units, ".0f"), _f(c.peak_rss_mb, ".0f"),
                             str(c.fallback) if c.fallback else ""])
            out += _table(["solver", "kind", "budget", "verified", "status", "cost",
                           "lower bound", "gap", "extra", "time (median [min–max])",
                           "orders/s", "pkg/order", "unfilled", "peak MB", "fallback"],
                          rows, ["l", "l", "r", "r", "l", "r", "r", "r", "r", "r", "r", "r",
                                 "r", "r", "r"]) + [""]
    return out


def _gap_table(cells: Sequence[Cell]) -> list[str]:
    groups = [g for g in ["gap1-12", "A", "B", "C", "D", "E"] if any(c.group == g for c in cells)]
    keys = sorted({(c.solver, c.kind, c.budget) for c in cells},
                  key=lambda t: (solver_rank(t[0], t[1]), t[2]))
    out = ["Per instance group: mean extra cost over the best known plan (published optimum or "
           "best bound where open), worst instance in brackets, instances with a verified plan "
           "/ instances, proven optimal, mean time.", ""]
    rows = []
    for solver, kind, budget in keys:
        here = [c for c in cells if c.solver == solver and c.budget == budget]
        row = [solver + ("*" if here and all(c.carried for c in here) else ""), _budget(budget)]
        for g in groups:
            mine = [c for c in here if c.group == g]
            if not mine:
                row.append("")
                continue
            agg = aggregate(mine)
            if kind == "bound":
                row.append(f"bound −{_pct(agg.bound_gap)} · {agg.ok}/{agg.n} · "
                           f"{_secs(agg.seconds)}")
                continue
            opt = f" · opt {agg.optimal}" if agg.optimal else ""
            row.append(f"{_pct(agg.extra)} ({_pct(agg.extra_max)}) · {agg.ok}/{agg.n}{opt} · "
                       f"{_secs(agg.seconds)}")
        rows.append(row)
    out += _table(["solver", "budget", *(f"{g} ({len({c.instance for c in cells if c.group == g})})"
                                         for g in groups)], rows)
    out += ["", "\\* the solver stopped on its own within the smaller budget on these "
                "instances: its result is carried, not rerun.", "",
            "Per instance (extra over the best known plan; failures in capitals) at the "
            "largest budget of each solver:", ""]
    insts = sorted({(c.group, c.instance) for c in cells}, key=lambda t: (_group_rank(t[0]), t[1]))
    solvers = sorted({(c.solver, c.kind) for c in cells}, key=lambda t: solver_rank(*t))
    rows = []
    for _g, inst in insts:
        row = [inst]
        for s, _k in solvers:
            mine = [c for c in cells if c.instance == inst and c.solver == s]
            if not mine:
                row.append("")
                continue
            c = max(mine, key=lambda c: c.budget)
            if c.failed:
                row.append(_failure_text(c))
            elif c.kind == "bound":
                row.append(f"(−{_pct(c.bound_gap)})")
            else:
                row.append(_pct(c.extra) + ("✓" if c.status == "optimal" else ""))
        rows.append(row)
    out += _table(["instance", *(s for s, _ in solvers)], rows)
    out += ["", "✓ = the solver proved optimality; bound-only solvers: (−x%) = their bound lies x% below the best plan.", ""]
    return out


def _matrix(cells: Sequence[Cell]) -> list[str]:
    """Solvers x instances: extra over the best plan (failures in capitals), and time."""
    insts = sorted({(c.group, c.n_orders or 0, c.instance) for c in cells},
                   key=lambda t: (_group_rank(t[0]), t[1], t[2]))
    keys = sorted({(c.solver, c.kind, c.budget) for c in cells},
                  key=lambda t: (solver_rank(t[0], t[1]), t[2]))
    rows = []
    for solver, kind, budget in keys:
        here = [c for c in cells if c.solver == solver and c.budget == budget]
        row = [solver + ("*" if here and all(c.carried for c in here) else ""), _budget(budget)]
        ok = runs = 0
        secs = []
        for _g, _n, inst in insts:
            mine = [c for c in cells if c.instance == inst and c.solver == solver
                    and c.budget == budget]
            if not mine:
                row.append("")
                continue
            c = mine[0]
            ok += c.ok
            runs += c.runs
            if c.seconds_median is not None:
                secs.append(c.seconds_median)
            if c.failed:
                row.append(_failure_text(c))
            elif kind == "bound":
                row.append(f"(−{_pct(c.bound_gap)})")
            else:
                row.append(_pct(c.extra) + ("✓" if c.status == "optimal" else ""))
        row += [f"{ok}/{runs}", _secs(max(secs) if secs else None)]
        rows.append(row)
    out = ["Extra cost over the best plan per instance (the hand-made batches' worked optima, "
           "the GAP optima); ✓ = proven optimal; bound-only solvers: (−x%) = their bound lies "
           "x% below the best plan; failures in capitals; * carried from the smaller budget "
           "(the solver stopped on its own there).", ""]
    out += _table(["solver", "budget", *(i for _g, _n, i in insts), "verified", "max time"],
                  rows)
    return [*out, ""]


def _problems(ctx: Context) -> list[str]:
    out = ["## Failures and problems", ""]
    fails = [f"- {c.suite}/{c.instance} {c.solver} @ {_budget(c.budget)}: {_failure_text(c)}"
             + (f" — {'; '.join(c.errors)[:400]}" if c.errors else "")
             for c in ctx.cells if c.failed]
    out += ["Runs without a verified plan (or, for bound-only solvers, without a bound):", ""]
    out += (fails or ["None."]) + [""]
    claims = []
    for (suite, inst), ref in sorted(ctx.refs.items()):
        claims += [f"- {suite}/{inst}: wrong lower bound — {b}" for b in ref.bad_bounds]
    for r in ctx.records:
        rr = ctx.refs.get((r["suite"], r["instance"]))
        if (rr is not None and rr.best_plan is not None and r.get("outcome") == "ok"
                and r.get("status") == "optimal" and r.get("objective") is not None
                and not r.get("carried_from")
                and r["objective"] > rr.best_plan + 2e-4 * abs(rr.best_plan) + TOL):
            claims.append(f"- {r['suite']}/{r['instance']} {r['solver']} @ {r['budget']:g} s: "
                          f"claims optimal at {r['objective']:.6g} but a plan of "
                          f"{rr.best_plan:.6g} exists ({rr.best_plan_by})")
    out += ["Claims contradicted by other results (a lower bound above a verified plan; "
            "'optimal' above a better plan, beyond the MIP gap):", ""]
    out += (claims or ["None."]) + [""]
    over = [c for c in ctx.cells if c.seconds_max is not None and not math.isnan(c.budget)
            and c.seconds_max > c.budget * 1.2 + 0.05]
    out += ["Budget overruns (a run's time above 1.2 × budget + 50 ms; time counts "
            "compilation):", ""]
    if over:
        over.sort(key=lambda c: (solver_rank(c.solver, c.kind), c.budget,
                                 _group_rank(c.group), c.n_orders or 0))
        out += _table(["solver", "budget", "instance", "orders", "max time", "× budget"],
                      [[c.solver, _budget(c.budget), f"{c.suite}/{c.instance}",
                        str(c.n_orders or ""), _secs(c.seconds_max),
                        f"{(c.seconds_max or 0) / c.budget:.1f}"] for c in over])
    else:
        out += ["None."]
    return [*out, ""]


# ---------------------------------------------------------------------------------------------
# Several seeds per preset


def seed_of(instance: str) -> int | None:
    """The generator seed of a sale-day instance name (``m-s3`` -> 3)."""
    head, sep, tail = instance.rpartition("-s")
    return int(tail) if sep and head and tail.isdigit() else None


def own_gap(c: Cell) -> float | None:
    """The gap of a solver's plan to its own proven bound (%), as ``router solve`` prints
    it."""
    return pct_gap(c.cost, c.lower_bound) if not c.failed else None


def _mean_worst(vals: Sequence[float | None]) -> tuple[float | None, float | None]:
    v = [x for x in vals if x is not None]
    return (statistics.fmean(v), max(v)) if v else (None, None)


def seeds_section(ctx: Context) -> list[str]:
    """Per preset with several seeds: mean and worst over the seeds per solver and budget
    (extra over the best plan known, gap to the best bound, gap to the solver's own bound);
    auto against each MIP backend at the same budget; auto per seed."""
    sale = ctx.of("saleday")
    presets = [p for p in PRESETS
               if len({c.instance for c in sale if c.group == p}) >= 2]
    if not presets:
        return []
    out = ["## Sale-day batches over several seeds", "",
           "Per preset, budget and solver, over the generator seeds: **extra** over the best "
           "plan known (mean / worst), **gap** to the best bound known (mean / worst), and "
           "**own gap**, the plan against the solver's own proven bound, as `router solve` "
           "prints it (mean / worst; – where the solver proves no bound). `k/n`: seeds with a "
           "verified plan in every run.", ""]
    rows = []
    for p in presets:
        cs = [c for c in sale if c.group == p]
        n_seeds = len({c.instance for c in cs})
        for b in sorted({c.budget for c in cs if not math.isnan(c.budget)}):
            here = [c for c in cs if c.budget == b]
            for solver, kind in sorted({(c.solver, c.kind) for c in here},
                                       key=lambda sk: solver_rank(*sk)):
                mine = [c for c in here if c.solver == solver]
                if kind == "bound":
                    continue
                ok = sum(1 for c in mine if not c.failed)
                ex = _mean_worst([c.extra for c in mine if not c.failed])
                gp = _mean_worst([c.gap_bound for c in mine if not c.failed])
                og = _mean_worst([own_gap(c) for c in mine])
                secs = _mean_worst([c.seconds_median for c in mine])
                rows.append([p, f"{b:g} s", solver, f"{ok}/{n_seeds}",
                             f"+{_pct(ex[0])} / +{_pct(ex[1])}",
                             f"{_pct(gp[0])} / {_pct(gp[1])}",
                             f"{_pct(og[0])} / {_pct(og[1])}", _secs(secs[0])])
    out += _table(["preset", "budget", "solver", "seeds", "extra (mean / worst)",
                   "gap to best bound (mean / worst)", "own gap (mean / worst)",
                   "time (mean)"], rows, ["l", "r", "l", "r", "r", "r", "r", "r"]) + [""]
    out += _auto_vs_mip(sale, presets)
    out += _auto_per_seed(ctx, sale, presets)
    return out


def _auto_vs_mip(sale: Sequence[Cell], presets: Sequence[str]) -> list[str]:
    mips = sorted({c.solver for c in sale if c.kind == "mip"})
    if not mips or not any(c.solver == "auto" for c in sale):
        return []
    out = ["### auto against each MIP backend at the same budget", "",
           "Per preset and budget: seeds where auto's plan costs no more than the backend's "
           "(both verified), and (auto − backend) / backend over those seeds, mean and "
           "worst (negative: auto is cheaper).", ""]
    rows = []
    for p in presets:
        cs = [c for c in sale if c.group == p]
        for b in sorted({c.budget for c in cs if c.solver == "auto"}):
            auto = {c.instance: c for c in cs if c.solver == "auto" and c.budget == b}
            for m in mips:
                pairs = [(auto[c.instance], c) for c in cs
                         if c.solver == m and c.budget == b and c.instance in auto]
                pairs = [(a, c) for a, c in pairs if not a.failed and not c.failed
                         and a.cost is not None and c.cost is not None]
                if not pairs:
                    continue
                diffs = [pct_over(a.cost, c.cost) for a, c in pairs]
                wins = sum(1 for a, c in pairs
                           if a.cost is not None and c.cost is not None
                           and a.cost <= c.cost + 1e-6 * max(1.0, abs(c.cost)))
                mean, worst = _mean_worst(diffs)
                rows.append([p, f"{b:g} s", m, f"{wins}/{len(pairs)}",
                             _signed_pct(mean), _signed_pct(worst)])
    return out + _table(["preset", "budget", "MIP backend", "auto <= backend",
                         "auto vs backend (mean)", "worst"], rows,
                        ["l", "r", "l", "r", "r", "r"]) + [""]


def _signed_pct(v: float | None) -> str:
    if v is None:
        return "–"
    return ("+" if v >= 0 else "") + _pct(v).lstrip("+")


def _auto_per_seed(ctx: Context, sale: Sequence[Cell], presets: Sequence[str]) -> list[str]:
    autos = [c for c in sale if c.solver == "auto" and c.group in presets]
    if not autos:
        return []
    mips = sorted({c.solver for c in sale if c.kind == "mip"})
    out = ["### auto per seed", "",
           "auto's own gap (plan against its own proven bound), its extra over the best plan "
           "known (and who found that plan), and against each MIP backend at the same budget "
           "((auto − backend) / backend; – where the backend did not run or gave no verified "
           "plan).", ""]
    rows = []
    for c in sorted(autos, key=lambda c: (_group_rank(c.group), c.budget,
                                          seed_of(c.instance) or 0)):
        ref = ctx.refs.get((c.suite, c.instance), Reference())
        vs = []
        for m in mips:
            mc = [x for x in sale if x.solver == m and x.instance == c.instance
                  and x.budget == c.budget]
            vs.append(_signed_pct(pct_over(c.cost, mc[0].cost))
                      if mc and not mc[0].failed and not c.failed else "–")
        rows.append([c.group, str(seed_of(c.instance)), f"{c.budget:g} s",
                     _cost_cell(c), _f(c.lower_bound), _pct(own_gap(c)),
                     "+" + _pct(c.extra), f"{_f(ref.best_plan)} ({ref.best_plan_by or '–'})",
                     *vs])
    return out + _table(["preset", "seed", "budget", "cost", "own bound", "own gap",
                         "extra", "best plan known", *mips], rows,
                        ["l", "r", "r", "r", "r", "r", "r", "r", *(["r"] * len(mips))]) + [""]
