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

from benchmarks import machine, output
from benchmarks.report import (
    build_context,
    markdown,
    read_jsonl,
    read_runs_csv,
    write_runs_csv,
    write_summary_csv,
)
from benchmarks.runner import Plan, Settings, execute, jsonl_sink, make_plan, repeats_for
from benchmarks.suites import (
    DEFAULT_CONFIGS,
    PROFILES,
    REPO,
    SUITES,
    SolverSel,
    SuiteConfig,
    parse_seeds,
)
from router.solvers.registry import registry

DEFAULT_OUT = output.RESULTS  # the committed results
RUNS_DIR = output.RUNS  # a new folder per run unless told otherwise (git-ignored)
RUNS_FILE = "raw/runs.jsonl"  # every field of every run (scratch, not committed)
RUNS_CSV = "runs.csv"  # the committed per-run records


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", action="append", choices=SUITES, metavar="NAME",
                   help=f"suite to run ({', '.join(SUITES)}); repeat for several "
                        "(default: the suites of the profile)")
    p.add_argument("--profile", choices=sorted(PROFILES), default=None,
                   help="budgets, repeats and instances: full (default: smoke, gap, saleday), "
                        "quick (a few minutes), seeds (saleday on ten seeds per preset, one "
                        "budget each: the portfolio against the MIP backends), gaplarge (GAP "
                        "types C, D, E up to 1,600 jobs at 10 s)")
    p.add_argument("--quick", action="store_true", help="the same as --profile quick")
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
    p.add_argument("--seeds", metavar="LIST",
                   help="saleday generator seeds, e.g. 1,2,3 or 1-10 (default: the profile's)")
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
    where = p.add_mutually_exclusive_group()
    where.add_argument("-o", "--out", metavar="DIR",
                       help="results directory (default: a new folder "
                            f"{_rel(RUNS_DIR)}/<UTC time>/)")
    where.add_argument("--update-results", action="store_true",
                       help=f"write to the committed results, {_rel(DEFAULT_OUT)}/ (replacing "
                            "them)")
    p.add_argument("--append", action="store_true",
                   help="add to the runs already in DIR (with -o or --update-results) instead "
                        "of starting afresh")
    p.add_argument("--dry-run", action="store_true",
                   help="print what would run and the worst-case time, run nothing")
    p.add_argument("--report-only", action="store_true",
                   help="rebuild the report, CSV files and plots from DIR/raw/runs.jsonl "
                        "(or DIR/runs.csv); DIR is -o, the committed results with "
                        "--update-results, else the newest folder of a default run")
    p.add_argument("--no-plots", action="store_true")


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _new_run_dir() -> Path:
    """A folder of RUNS_DIR that does not exist yet, named by the UTC time (created by the
    run: a dry run creates nothing)."""
    return output.new_run_dir("", RUNS_DIR, create=False)


def _latest_run_dir() -> Path | None:
    runs = sorted(p for p in RUNS_DIR.glob("*") if p.is_dir()) if RUNS_DIR.is_dir() else []
    return runs[-1] if runs else None


def output_dir(args: argparse.Namespace) -> tuple[Path | None, str | None]:
    """Where the results go: ``-o DIR``; the committed results with ``--update-results``; else
    a new folder of RUNS_DIR (the newest one for ``--report-only``). ``(None, why)`` when the
    options do not say."""
    if args.out:
        return Path(args.out), None
    if args.update_results:
        return DEFAULT_OUT, None
    if args.report_only:
        latest = _latest_run_dir()
        if latest is None:
            return None, (f"no run in {RUNS_DIR} to report on; give -o DIR, or "
                          "--update-results for the committed results")
        return latest, None
    if args.append:
        return None, "--append adds to an earlier run: give -o DIR or --update-results"
    return _new_run_dir(), None


def _split(v: str | None) -> list[str]:
    return [x.strip() for x in v.split(",") if x.strip()] if v else []


def profile_name(args: argparse.Namespace) -> str:
    return args.profile or ("quick" if args.quick else "full")


def configs(args: argparse.Namespace) -> list[tuple[str, SuiteConfig]]:
    profile = PROFILES[profile_name(args)]
    out = []
    for name in args.suite or list(profile):
        cfg = profile.get(name) or DEFAULT_CONFIGS[name]
        if args.budgets:
            cfg = replace(cfg, budgets=tuple(float(b) for b in _split(args.budgets)),
                          long_budgets=(), xl_budgets=(), preset_budgets=())
        if args.repeats is not None:
            cfg = replace(cfg, repeats=args.repeats)
        if args.instances:
            cfg = replace(cfg, instances=tuple(_split(args.instances)))
        if args.presets:
            cfg = replace(cfg, presets=tuple(_split(args.presets)))
        if args.seeds:
            cfg = replace(cfg, seeds=parse_seeds(args.seeds), xl_seeds=())
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
    found, why = output_dir(args)
    if found is None:
        print(f"bench: {why}", file=sys.stderr)
        return 2
    out = found
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
    past = None
    if args.dry_run:  # expected times from the runs in DIR, else from the committed ones
        past = history(out) if out.exists() else history(DEFAULT_OUT)
    print(describe_plan(plan, past), file=sys.stderr)
    if args.dry_run:
        return 0
    if not plan.items:
        print("bench: nothing to run (no instance or no solver matches)", file=sys.stderr)
        return 2
    (out / "raw").mkdir(parents=True, exist_ok=True)
    print(f"bench: results go to {out}", file=sys.stderr)
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
