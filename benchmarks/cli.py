"""``python -m benchmarks`` / ``router bench``: run suites and write the results and report."""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import importlib
import json
import os
import shlex
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.report import (
    build_context,
    markdown,
    read_jsonl,
    read_runs_csv,
    write_runs_csv,
    write_summary_csv,
)
from benchmarks.runner import Plan, Settings, execute, jsonl_sink, make_plan, repeats_for
from benchmarks.suites import PROFILES, REPO, SUITES, SolverSel, SuiteConfig
from router.solvers.registry import registry

DEFAULT_OUT = REPO / "benchmarks" / "results"
RUNS_FILE = "raw/runs.jsonl"  # every field of every run (scratch, not committed)
RUNS_CSV = "runs.csv"  # the committed per-run records


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", action="append", choices=SUITES, metavar="NAME",
                   help=f"suite to run ({', '.join(SUITES)}); repeat for several "
                        "(default: all three)")
    p.add_argument("--quick", action="store_true",
                   help="the quick profile (a few minutes) instead of the full one")
    p.add_argument("--solvers", metavar="LIST",
                   help="comma-separated solver names or globs (default: every available)")
    p.add_argument("--exclude", metavar="LIST", help="solvers (names or globs) to leave out")
    p.add_argument("--kinds", metavar="LIST", help="only these solver kinds (heuristic,mip,bound)")
    p.add_argument("--budgets", metavar="LIST",
                   help="time budgets in seconds, e.g. 0.1,1,10 (overrides the profile)")
    p.add_argument("--repeats", type=int, metavar="N", help="runs per solver, instance, budget")
    p.add_argument("--repeat-seconds", type=float, default=10.0, metavar="S",
                   help="at budget b run min(repeats, S / b) times, at least once (default 10)")
    p.add_argument("--instances", metavar="LIST",
                   help="instance names or globs to keep (e.g. 'c0515_*,a05100' or 'xs-*')")
    p.add_argument("--presets", metavar="LIST", help="saleday presets (default: the profile's)")
    p.add_argument("--seeds", metavar="LIST", help="saleday generator seeds (default 1)")
    p.add_argument("--xl-kinds", metavar="LIST",
                   help="solver kinds run on the xl preset (default: heuristic)")
    p.add_argument("--seed", type=int, default=0, help="solver seed (default 0)")
    p.add_argument("--vary-seed", action="store_true", help="repeat r uses seed + r")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="threads the engines may use (default 1: comparable timings)")
    p.add_argument("--grace", type=float, default=3.0, metavar="S",
                   help="hard kill at grace-factor x budget + S seconds (default 3)")
    p.add_argument("--grace-factor", type=float, default=1.5, metavar="F")
    p.add_argument("--no-carry", action="store_true",
                   help="rerun solvers at larger budgets even when they stopped on their own")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import a module first (e.g. one that registers extra solvers)")
    p.add_argument("-o", "--out", metavar="DIR", help=f"results directory (default {DEFAULT_OUT})")
    p.add_argument("--append", action="store_true",
                   help="add to the runs already in DIR instead of starting afresh")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would run and the worst-case time, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the report, CSV files and plots from DIR/raw/runs.jsonl "
                        "(or DIR/runs.csv)")
    p.add_argument("--no-plots", action="store_true")


def _split(v: str | None) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()] if v else []


def configs(args: argparse.Namespace) -> list[tuple[str, SuiteConfig]]:
    profile = PROFILES["quick" if args.quick else "full"]
    out = []
    for name in args.suite or list(SUITES):
        cfg = profile[name]
        if args.budgets:
            cfg = replace(cfg, budgets=tuple(float(b) for b in _split(args.budgets)),
                          long_budgets=(), xl_budgets=())
        if args.repeats is not None:
            cfg = replace(cfg, repeats=args.repeats)
        if args.instances:
            cfg = replace(cfg, instances=tuple(_split(args.instances)))
        if args.presets:
            cfg = replace(cfg, presets=tuple(_split(args.presets)))
        if args.seeds:
            cfg = replace(cfg, seeds=tuple(int(s) for s in _split(args.seeds)))
        if args.xl_kinds:
            cfg = replace(cfg, xl_kinds=tuple(_split(args.xl_kinds)))
        out.append((name, cfg))
    return out


def settings_from(args: argparse.Namespace, out: Path) -> Settings:
    scratch = out / "raw"
    return Settings(grace=args.grace, grace_factor=args.grace_factor, seed=args.seed,
                    vary_seed=args.vary_seed, repeat_seconds=args.repeat_seconds,
                    carry=not args.no_carry, threads=args.threads, scratch=str(scratch))


def read_runs(out: Path) -> list[dict[str, Any]] | None:
    """The per-run records of a results directory: raw/runs.jsonl, else runs.csv."""
    if (out / RUNS_FILE).exists():
        return read_jsonl(out / RUNS_FILE)
    if (out / RUNS_CSV).exists():
        return read_runs_csv(out / RUNS_CSV)
    return None


def history(out: Path) -> dict[tuple[str, str, str, float], float]:
    """Median wall seconds per (suite, instance, solver, budget) of the runs in ``out``."""
    walls: dict[tuple[str, str, str, float], list[float]] = {}
    for r in read_runs(out) or []:
        if r.get("budget") is None or r.get("carried_from") is not None:
            continue
        key = (r["suite"], r["instance"], r["solver"], float(r["budget"]))
        walls.setdefault(key, []).append(float(r.get("wall_seconds") or r["budget"]))
    return {k: statistics.median(v) for k, v in walls.items()}


def describe_plan(plan: Plan, past: dict[tuple[str, str, str, float], float] | None = None
                  ) -> str:
    lines = []
    for it in plan.items:
        k = [repeats_for(b, plan.repeats[it.spec.suite], plan.settings) for b in it.spec.budgets]
        lines.append(f"  {it.spec.key:28s} budgets {','.join(f'{b:g}' for b in it.spec.budgets)}"
                     f" x{'/'.join(map(str, k))}  solvers: {', '.join(s.name for s in it.solvers)}")
    for name, why in sorted(plan.skipped_solvers.items()):
        lines.append(f"  skipped solver {name}: {why}")
    worst = plan.worst_seconds()
    lines.append(f"{len(plan.items)} instances, {plan.runs()} runs at most; worst case "
                 f"{worst / 60:.1f} min if every run used its whole budget (solvers that stop "
                 "early and carried results make it shorter)")
    if past:
        expected, known = plan.expected_seconds(past)
        lines.append(f"expected {expected / 60:.1f} min from the earlier runs in the results "
                     f"directory ({known} of the runs measured there, the rest at worst case)")
    return "\n".join(lines)


def write_outputs(out: Path, meta: dict[str, Any], plots: bool = True,
                  records: list[dict[str, Any]] | None = None) -> Path:
    if records is None:
        records = read_jsonl(out / RUNS_FILE)
    ctx = build_context(records)
    write_runs_csv(records, out / RUNS_CSV)
    write_summary_csv(ctx.cells, ctx.refs, out / "summary.csv")
    names: list[str] = []
    if plots:
        from benchmarks.plots import make_plots

        names = make_plots(ctx, out)
    report = out / "report.md"
    report.write_text(markdown(ctx, meta, names), encoding="utf-8")
    return report


def run(args: argparse.Namespace, command: str) -> int:
    out = Path(args.out) if args.out else DEFAULT_OUT
    meta_path = out / "meta.json"
    if args.report_only:
        records = read_runs(out)
        if records is None:
            print(f"bench: no {out / RUNS_FILE} or {out / RUNS_CSV} to report on",
                  file=sys.stderr)
            return 2
        old = json.loads(meta_path.read_text()) if meta_path.exists() else {}
        report = write_outputs(out, old, plots=not args.no_plots, records=records)
        print(f"bench: wrote {report}", file=sys.stderr)
        return 0
    for mod in args.imports:
        importlib.import_module(mod)
    sel = SolverSel(include=tuple(_split(args.solvers)) or ("*",),
                    exclude=tuple(_split(args.exclude)), kinds=tuple(_split(args.kinds)))
    unmatched = [pat for pat in sel.include
                 if not any(fnmatch.fnmatchcase(n, pat) for n in registry())]
    if unmatched:
        print(f"bench: no solver matches {', '.join(unmatched)}; registered: "
              f"{', '.join(sorted(registry()))}", file=sys.stderr)
        return 2
    try:
        plan = make_plan(configs(args), sel, settings_from(args, out))
    except RuntimeError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    print(describe_plan(plan, history(out) if args.dry_run else None),
          file=sys.stderr)
    if args.dry_run:
        return 0
    if not plan.items:
        print("bench: nothing to run (no instance or no solver matches)", file=sys.stderr)
        return 2
    (out / "raw").mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {}
    if args.append and meta_path.exists():
        meta = json.loads(meta_path.read_text())
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta.update(machine.describe())
    meta["git"] = machine.git_revision(REPO)
    meta["settings"] = asdict(plan.settings) | {"scratch": None}
    meta["commands"] = (meta.get("commands", []) if args.append else []) + [command]
    meta.setdefault("started", started)
    meta.setdefault("load_start", _load())
    t0 = time.perf_counter()
    interrupted = False
    with jsonl_sink(out / RUNS_FILE, append=args.append) as sink:
        try:
            execute(plan, sink)
        except KeyboardInterrupt:
            interrupted = True
            print("bench: interrupted; reporting the runs made so far", file=sys.stderr)
    wall = time.perf_counter() - t0
    meta["wall_seconds"] = (meta.get("wall_seconds", 0.0) if args.append else 0.0) + wall
    meta["finished"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    meta["load_end"] = _load()
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    report = write_outputs(out, meta, plots=not args.no_plots)
    print(f"bench: {wall / 60:.1f} min; wrote {report}, {out / RUNS_CSV}, "
          f"{out / 'summary.csv'}, {out / RUNS_FILE}", file=sys.stderr)
    return 130 if interrupted else 0


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover
        return None


def main(argv: Sequence[str] | None = None, prog: str = "python -m benchmarks") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Benchmark the solvers of router: "
                                     "cost, bounds, time and memory on GAP and sale-day batches.")
    add_arguments(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    return run(args, " ".join([prog, *map(shlex.quote, argv)]))
