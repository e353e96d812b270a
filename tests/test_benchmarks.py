"""The benchmark harness end to end: isolated runs, failures recorded as such, report and CSV.

Test-only solvers (one that sleeps past its budget, one that raises, one that kills its own
process, one that returns a plan breaking the stock limits) are registered in this process only;
the harness forks its runs from here, so the children see them too.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import router
import router.solvers.registry as base
from benchmarks import cli
from benchmarks.report import build_context, markdown, read_jsonl
from benchmarks.runner import Settings, run_isolated
from benchmarks.suites import GAP_DIR, HAND_DIR, gap_instances
from router.compile import Problem
from router.contract import Outcome, Reason, Run, Status, Termination
from router.solvers.registry import SolverInfo

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the harness forks its runs")
needs_gap = pytest.mark.skipif(not (GAP_DIR / "bounds_min.tsv").is_file(),
                               reason=f"the GAP library is not at {GAP_DIR}")


def _sleepy(problem: Problem, run: Run) -> Outcome:
    time.sleep(60)  # ignores its budget: the harness must kill it
    raise AssertionError("not reached")


def _raises(problem: Problem, run: Run) -> Outcome:
    raise RuntimeError("deliberate failure")


def _dies(problem: Problem, run: Run) -> Outcome:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("not reached")


def _overships(problem: Problem, run: Run) -> Outcome:
    x = np.zeros(problem.n_line_arcs, dtype=np.int64)
    first = problem.line_e_ptr[:-1]
    has = first < problem.line_e_ptr[1:]
    x[first[has]] = problem.line_qty[has] + 5  # more than ordered: fails verification
    return Outcome("t-overships", Status.FEASIBLE, Termination(Reason.COMPLETED), x, None, None)


def _leaves_a_grandchild(problem: Problem, run: Run) -> Outcome:
    # An engine process that outlives the solver call and holds every inherited descriptor.
    subprocess.Popen(["sleep", "60"], close_fds=False)
    r = base.get("greedy").func(problem, run)
    return Outcome("t-orphan", r.status, r.termination, r.x, r.objective, None)


TEST_SOLVERS = {"t-sleepy": _sleepy, "t-raises": _raises, "t-dies": _dies,
                "t-overships": _overships, "t-orphan": _leaves_a_grandchild}


@pytest.fixture
def test_solvers(monkeypatch: pytest.MonkeyPatch) -> None:
    base.registry()  # import the shipped solvers first
    for name, func in TEST_SOLVERS.items():
        monkeypatch.setitem(base._REGISTRY, name, SolverInfo(name, func, "test only",
                                                             "heuristic"))


FAST = Settings(grace=0.5, grace_factor=1.0, verify_timeout=30.0)


def test_isolated_run_records_a_verified_plan() -> None:
    inst = router.load(HAND_DIR / "split.yaml")
    rec = run_isolated(inst, "greedy", 1.0, 0, FAST)
    assert rec["outcome"] == "ok" and rec["verified"] is True
    assert rec["objective"] == pytest.approx(11.0)  # the worked optimum of split.yaml
    assert rec["shipments"] == 2 and rec["unfilled_units"] == 0
    assert rec["seconds"] > 0 and rec["peak_rss_mb"] > 0 and rec["cpu_seconds"] >= 0


def test_failures_are_recorded_not_raised(test_solvers: None) -> None:
    inst = router.load(HAND_DIR / "split.yaml")
    t0 = time.perf_counter()
    slept = run_isolated(inst, "t-sleepy", 0.1, 0, FAST)
    assert slept["outcome"] == "timeout" and "killed" in slept["error"]
    assert time.perf_counter() - t0 < 30  # killed, not waited for
    raised = run_isolated(inst, "t-raises", 0.5, 0, FAST)
    assert raised["outcome"] == "crash" and "deliberate failure" in raised["error"]
    died = run_isolated(inst, "t-dies", 0.5, 0, FAST)
    assert died["outcome"] == "crash" and "signal 9" in died["error"]
    bad = run_isolated(inst, "t-overships", 0.5, 0, FAST)
    assert bad["outcome"] == "invalid" and bad["verified"] is False
    assert "objective" in bad and bad["error"]
    t0 = time.perf_counter()
    orphan = run_isolated(inst, "t-orphan", 5.0, 0, FAST)
    assert orphan["outcome"] == "ok" and orphan["objective"] == pytest.approx(11.0)
    assert time.perf_counter() - t0 < 5.0  # not held up by the grandchild's open pipe


@needs_gap
def test_end_to_end_suite_report_and_csv(tmp_path: Path, test_solvers: None) -> None:
    out = tmp_path / "res"
    code = cli.main(["--suite", "smoke", "--solvers", "greedy,t-sleepy,t-overships",
                     "--instances", "hand-split,hand-capacity,a05100", "--budgets", "0.2",
                     "--repeats", "2", "--grace", "0.3", "--grace-factor", "1", "-o", str(out)])
    assert code == 0
    recs = read_jsonl(out / "raw" / "runs.jsonl")
    assert len(recs) == 3 * 3 * 2  # every solver x instance x repeat, none lost to a failure
    by = {(r["instance"], r["solver"], r["repeat"]): r for r in recs}
    for inst, cost in (("hand-split", 11.0), ("hand-capacity", 22.5)):  # worked optima
        r = by[(inst, "greedy", 0)]
        assert r["outcome"] == "ok" and r["verified"] is True
        assert r["known_upper"] == cost and r["objective"] >= cost - 1e-9
    gap = by[("a05100", "greedy", 1)]
    assert gap["outcome"] == "ok" and gap["known_upper"] == 1698
    assert gap["objective"] >= 1698 and gap["n_orders"] == 100
    assert {by[(i, "t-sleepy", k)]["outcome"] for i in ("hand-split", "a05100")
            for k in (0, 1)} == {"timeout"}
    assert {r["outcome"] for r in recs if r["solver"] == "t-overships"} == {"invalid"}

    with (out / "runs.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(recs)
    assert {r["outcome"] for r in rows} == {"ok", "timeout", "invalid"}
    with (out / "summary.csv").open() as f:
        summary = {(r["instance"], r["solver"]): r for r in csv.DictReader(f)}
    assert float(summary[("a05100", "greedy")]["extra_pct"]) == pytest.approx(
        100 * (gap["objective"] - 1698) / 1698, rel=1e-6)
    assert summary[("hand-split", "t-overships")]["cost"] == ""  # a failure is never a cost

    report = (out / "report.md").read_text()
    assert "python -m benchmarks --suite smoke" in report
    assert "**TIMEOUT**" in report and "**INVALID**" in report
    assert "## Suite `smoke`" in report and "Machine:" in report
    meta = json.loads((out / "meta.json").read_text())
    assert meta["versions"]["numpy"] == np.__version__
    assert (out / "pareto_smoke.png").read_bytes()[:4] == b"\x89PNG"


def test_report_references_and_failures() -> None:
    """Best plan and bound per instance; an invalid plan never sets the best plan; a bound above
    a verified plan is reported, not used."""
    common = {"suite": "gap", "instance": "x", "group": "A", "kind": "heuristic",
              "known_lower": 90.0, "known_upper": 100.0, "n_orders": 10, "repeat": 0,
              "budget": 1.0}
    recs = [
        {**common, "solver": "a", "outcome": "ok", "status": "feasible", "objective": 110.0,
         "seconds": 0.5, "lower_bound": None},
        {**common, "solver": "b", "outcome": "invalid", "status": "feasible", "objective": 50.0,
         "seconds": 0.1},
        {**common, "solver": "c", "kind": "mip", "outcome": "ok", "status": "optimal",
         "objective": 100.0, "lower_bound": 100.0, "seconds": 0.9},
        {**common, "solver": "d", "kind": "bound", "outcome": "bound", "status": "no_solution",
         "objective": None, "lower_bound": 120.0, "seconds": 0.2},
        {**common, "solver": "e", "kind": "mip", "outcome": "ok", "status": "optimal",
         "objective": 105.0, "lower_bound": 99.0, "seconds": 3.0},  # overran, falsely optimal
    ]
    ctx = build_context(recs)
    ref = ctx.refs[("gap", "x")]
    assert ref.best_plan == 100.0 and ref.best_bound == 100.0
    assert ref.bad_bounds and "120" in ref.bad_bounds[0]
    cell = {c.solver: c for c in ctx.cells}
    assert cell["a"].extra == pytest.approx(10.0)
    assert cell["a"].gap_bound == pytest.approx(100 * 10 / 110)
    assert cell["b"].failed and cell["b"].cost is None
    text = markdown(ctx, {"commands": ["python -m benchmarks --suite gap"]})
    assert "wrong lower bound" in text and "**INVALID**" in text
    assert "e @ 1 s: claims optimal at 105" in text
    assert "| e | 1 s | gap/x | 10 | 3.00 s | 3.0 |" in text  # the budget overrun


def test_a_fallback_plan_is_not_carried(tmp_path: Path) -> None:
    """A MIP that had no time to start returns the incumbent: that is not its answer at a
    larger budget, so the larger budget is run, and there the engine proves the optimum."""
    out = tmp_path / "res"
    assert cli.main(["--suite", "smoke", "--solvers", "pulp-highs", "--instances", "hand-store",
                     "--budgets", "0.001,20", "--no-plots", "-o", str(out)]) == 0
    small, large = read_jsonl(out / "raw" / "runs.jsonl")
    assert small["fallback"] and small["seconds"] < 0.5 * 20
    assert large.get("carried_from") is None and not large["fallback"]
    assert large["status"] == "optimal" and large["objective"] == pytest.approx(30.5)


@needs_gap
def test_gap_specs_carry_published_bounds() -> None:
    specs = {s.name: s for s in gap_instances()}
    assert len(specs) == 90
    assert specs["d10100"].known_lower == 6345 and specs["d10100"].known_upper == 6348
    assert specs["c0515_1"].group == "gap1-12" and specs["e20200"].group == "E"
    assert GAP_DIR.exists()


def test_carry_dry_run_and_report_only(tmp_path: Path) -> None:
    """A solver that stops on its own well within a budget is carried to the larger ones;
    --dry-run runs nothing; --report-only rebuilds the same report from runs.csv."""
    out = tmp_path / "res"
    args = ["--suite", "smoke", "--solvers", "greedy", "--instances", "hand-store",
            "--budgets", "2,20", "-o", str(out)]
    assert cli.main([*args, "--dry-run"]) == 0
    assert not (out / "raw" / "runs.jsonl").exists()
    assert cli.main(args) == 0
    recs = read_jsonl(out / "raw" / "runs.jsonl")
    assert [(r["budget"], r.get("carried_from")) for r in recs] == [(2.0, None), (20.0, 2.0)]
    assert recs[1]["objective"] == recs[0]["objective"] == pytest.approx(30.5)
    report = (out / "report.md").read_text()
    summary = (out / "summary.csv").read_text()
    (out / "report.md").unlink()
    (out / "raw" / "runs.jsonl").unlink()  # rebuilt from the committed form, runs.csv
    assert cli.main(["--report-only", "--no-plots", "-o", str(out)]) == 0
    rebuilt = (out / "report.md").read_text()
    assert rebuilt == report.split("## Plots")[0].rstrip() + "\n" and "greedy*" in rebuilt
    assert (out / "summary.csv").read_text() == summary
    assert cli.main(["--solvers", "no-such-solver", "--dry-run", "-o", str(out)]) == 2


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_default_run_leaves_the_committed_results_alone(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without -o or --update-results a run writes a new folder of RUNS_DIR; --report-only
    then works on the newest one, --append needs to be told where; --update-results writes
    to the committed folder."""
    committed = tmp_path / "results"
    committed.mkdir()
    (committed / "runs.csv").write_text("committed\n")
    (committed / "report.md").write_text("committed report\n")
    monkeypatch.setattr(cli, "DEFAULT_OUT", committed)
    monkeypatch.setattr(cli, "RUNS_DIR", committed / "runs")
    before = _tree(committed)
    args = ["--suite", "smoke", "--solvers", "greedy", "--instances", "hand-store",
            "--budgets", "0.5", "--no-plots"]
    assert cli.main(args) == 0
    assert cli.main(args) == 0  # a second run in the same second gets its own folder
    runs = sorted((committed / "runs").iterdir())
    assert len(runs) == 2
    for run in runs:
        assert (run / "report.md").is_file() and (run / "runs.csv").is_file()
        assert len(read_jsonl(run / "raw" / "runs.jsonl")) == 1
    after = _tree(committed)
    assert {k: v for k, v in after.items() if not k.startswith("runs/")} == before

    (runs[-1] / "report.md").unlink()
    assert cli.main(["--report-only", "--no-plots"]) == 0
    assert (runs[-1] / "report.md").is_file()
    assert cli.main([*args, "--append"]) == 2  # where to append is not guessed
    assert _tree(committed).keys() - after.keys() == set()

    assert cli.main([*args, "--update-results"]) == 0
    assert (committed / "runs.csv").read_text() != "committed\n"
    assert len(read_jsonl(committed / "raw" / "runs.jsonl")) == 1


def test_default_runs_folder_is_ignored_by_git() -> None:
    root = cli.REPO
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    probe = cli.RUNS_DIR / "20250101T000000Z" / "report.md"
    res = subprocess.run(["git", "-C", str(root), "check-ignore", "-q",
                          str(probe.relative_to(root))], check=False)
    assert res.returncode == 0, f"{cli.RUNS_DIR} is not ignored by git"
    assert cli.RUNS_DIR.parent == cli.DEFAULT_OUT


# Every script of benchmarks/ at a tiny size (the measurement stubbed where even the smallest
# run is slow), with its output options: (script, arguments, stubs, merged file or None).
SCRIPT_RUNS = [
    ("compile_speed", ["--seeds", ""], {}, None),
    ("floor_speed", ["solve", "--presets", ""], {}, None),
    ("floor_speed", ["jit", "--repeat", "1"], {"_import_cost": lambda env: (0.0, 0.0)}, None),
    ("heuristics_speed", ["speed", "--preset", "xs", "--repeat", "1"], {}, None),
    ("heuristics_speed", ["reference", "--preset", "xs", "--solvers", "greedy"], {},
     "best_known.json"),
    ("heuristics_speed", ["auto", "--preset", "xs", "--seconds", "0.05"], {}, None),
    ("heuristics_speed", ["gap", "--types", "z"], {}, None),
    ("heuristics_speed", ["overrun", "--presets", ""], {}, None),
    ("plan_speed", ["--presets", "xs", "--seeds", "1", "--repeat", "1", "--label", "t"], {},
     "plan_speed.json"),
    ("distributed", ["--cases", ""], {}, None),
    ("bound_quality", ["--cases", ""], {}, None),
    ("references", ["--presets", "xs", "--seeds", "1", "--solvers", "greedy", "--no-bound"], {},
     "best_known.json"),
    ("replay_day", ["--preset", "xs", "--orders", "200", "--sweep", "10", "--also", "none",
                    "--baselines", "", "--hindsight", "none", "--runs", "replay greedy 10",
                    "--jobs", "1"], {}, None),
    ("lp_methods", ["--preset", "xs", "--methods", ""], {}, None),
    ("build_time", ["", "--repeat", "1"], {}, None),
    ("generate_speed", ["xs", "--no-yaml"], {"run": lambda preset, fmt, seed: {
        "preset": preset, "format": fmt, "generate_s": 0.0, "write_s": 0.0, "mb": 0.0,
        "load_s": 0.0, "compile_s": 0.0, "orders": 0, "lines": 0, "nodes": 0, "arcs": 0,
        "line_arcs": 0, "line_arcs_per_line": 0.0, "max_line_arcs": 0, "peak_rss_mb": 0.0}},
     None),
    ("explain_speed", [], {"measure": lambda *a: {"batch": "stub"}}, None),
    ("overrun", ["--presets", ""], {}, None),
    ("mip_check", [str(HAND_DIR / "split.yaml"),
                   str(cli.REPO / "tests" / "data" / "plan_split.json"), "--claim", "12"], {}, None),
]


def _stamped(root: Path, skip: str = "runs") -> dict[str, tuple[bytes, int]]:
    """Every file under root (but root/skip) with its content and modification time: a file
    rewritten with the same content counts as written."""
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] != skip}


def _keys(path: Path) -> set[str]:
    data = json.loads(path.read_text())
    return set(data.get("runs", data))


@pytest.mark.parametrize(("script", "argv", "stubs", "merged"), SCRIPT_RUNS,
                         ids=[f"{r[0]}-{r[1][0]}" if r[1] and not r[1][0].startswith("-")
                              else r[0] for r in SCRIPT_RUNS])
def test_a_benchmark_writes_the_committed_results_only_when_told(
        script: str, argv: list[str], stubs: dict[str, object], merged: str | None,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without options a script writes a new folder runs/<script>-<UTC time>/ and nothing
    else of the results; -o DIR writes DIR; --update-results writes the committed results.
    Merging scripts start from the committed file. The real benchmarks/results is not
    touched by any of it."""
    import importlib
    import shutil

    from benchmarks import output

    real = output.RESULTS
    real_before = _stamped(real)
    committed = tmp_path / "results"
    shutil.copytree(real, committed, ignore=shutil.ignore_patterns("runs", "raw"))
    monkeypatch.setattr(output, "RESULTS", committed)
    monkeypatch.setattr(output, "RUNS", committed / "runs")
    monkeypatch.chdir(tmp_path)
    mod = importlib.import_module(f"benchmarks.{script}")
    for name, stub in stubs.items():
        monkeypatch.setattr(mod, name, stub)
    work = ["--work", str(tmp_path / "work")] if script == "replay_day" else []
    before = _stamped(committed)

    assert mod.main([*argv, *work]) in (None, 0)
    assert _stamped(committed) == before, "wrote the committed results without being told"
    runs = list((committed / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith(f"{script}-20"), runs
    assert any(p.is_file() for p in runs[0].rglob("*")), "the new folder is empty"
    if merged:
        assert _keys(committed / merged) <= _keys(runs[0] / merged)

    elsewhere = tmp_path / "elsewhere"
    assert mod.main([*argv, *work, "-o", str(elsewhere)]) in (None, 0)
    assert _stamped(committed) == before
    assert len(list((committed / "runs").iterdir())) == 1
    assert any(p.is_file() for p in elsewhere.rglob("*"))

    assert mod.main([*argv, *work, "--update-results"]) in (None, 0)
    written = _stamped(committed)
    assert written != before, "--update-results wrote nothing to the committed results"
    assert len(list((committed / "runs").iterdir())) == 1
    if merged:
        assert _keys(runs[0] / merged) <= _keys(committed / merged)
    assert _stamped(real) == real_before, "wrote the real benchmarks/results"


def test_mip_check_finds_a_good_plan_feasible_in_the_model_at_its_cost(tmp_path: Path) -> None:
    """The hand-computed optimum of split.yaml (cost 11) passes every row and column bound of
    the MIP model at the same objective, and HiGHS with its columns fixed agrees; a plan that
    ships one unit more than its line asks fails."""
    from benchmarks import mip_check

    inst = str(HAND_DIR / "split.yaml")
    good = cli.REPO / "tests" / "data" / "plan_split.json"
    r = mip_check.check(inst, str(good))
    assert r["usable"] and r["rows_violated"] == 0 and r["columns_out_of_bounds"] == 0
    assert r["cost"] == pytest.approx(11.0) and r["model_objective"] == pytest.approx(11.0)
    assert r["highs_fixed"]["objective"] == pytest.approx(11.0)
    data = json.loads(good.read_text())
    data["shipments"][0]["lines"][0]["qty"] += 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    r = mip_check.check(inst, str(bad))
    assert not r["usable"] or r["problem_violations"] or r["rows_violated"] > 0
