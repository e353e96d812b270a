"""The command line (SPEC section 5): commands, exit codes, output files and messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import router
from router.cli import main
from tests.conftest import HAND, HAND_OPTIMA, ROOT, gap_path

HAND_FILES = sorted(HAND.glob("*.yaml"))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_hand_files_are_all_known() -> None:
    assert {p.stem for p in HAND_FILES} == set(HAND_OPTIMA)


@pytest.mark.parametrize("path", HAND_FILES, ids=lambda p: p.stem)
def test_solve_then_verify_every_shipped_instance(path: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    code, stdout, err = run(["solve", str(path), "--time-limit", "10", "-o", str(out)], capsys)
    assert code == 0
    assert stdout == ""
    assert err.startswith("solver=auto status=")
    for key in ("objective=", "bound=", "gap=", "seconds="):
        assert key in err
    plan = json.loads(out.read_text())
    assert plan["format"] == "router/plan-v1" and plan["status"] in ("optimal", "feasible")
    # auto finds the optimum worked out by hand
    assert plan["objective"] == pytest.approx(HAND_OPTIMA[path.stem], abs=1e-6)
    code, stdout, err = run(["verify", str(path), str(out)], capsys)
    assert code == 0, stdout
    assert stdout.startswith(f"{out}: plan is valid; cost")
    assert err == ""


def test_solve_writes_plan_to_stdout_without_o(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run(["solve", str(HAND / "split.yaml"), "--solver", "greedy"], capsys)
    assert code == 0
    plan = router.Plan.from_json(stdout)
    assert plan.solver == "greedy" and plan.objective == pytest.approx(11.0)
    assert "solver=greedy status=feasible reason=completed source=greedy objective=11.0000" in err
    assert len(err.splitlines()) == 1


def test_solve_is_repeatable_with_a_seed(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    plans = []
    for k in range(2):
        out = tmp_path / f"p{k}.json"
        assert run(["solve", str(HAND / "capacity.yaml"), "--seed", "3", "--solver", "greedy",
                    "-o", str(out)], capsys)[0] == 0
        plans.append(json.loads(out.read_text()))
    assert plans[0]["shipments"] == plans[1]["shipments"]


def test_infeasible_gap_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gap = tmp_path / "tight"
    gap.write_text("1 2\n1 1\n5 5\n8\n")  # two jobs of 5 on one agent of capacity 8
    out = tmp_path / "plan.json"
    code, _, err = run(["solve", str(gap), "--format", "gap", "--solver", "greedy",
                        "-o", str(out)], capsys)
    assert code == 1
    assert "status=no_solution" in err
    plan = json.loads(out.read_text())
    assert plan["status"] == "no_solution" and plan["objective"] is None
    # such a plan does not verify: nothing is assigned
    code, stdout, _ = run(["verify", str(gap), str(out), "--format", "gap"], capsys)
    assert code == 1
    assert "status" in stdout and "job is not assigned" in stdout


def test_gap_solve_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = gap_path("a05100")
    out = tmp_path / "plan.json"
    code, _, err = run(["solve", str(path), "--format", "gap", "--solver", "greedy", "-o",
                        str(out)], capsys)
    assert code == 0, err
    code, stdout, _ = run(["verify", str(path), str(out), "--format", "gap"], capsys)
    assert code == 0, stdout


def test_verify_rejects_a_tampered_plan(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = HAND / "store.yaml"
    out = tmp_path / "plan.json"
    assert run(["solve", str(path), "--solver", "greedy", "-o", str(out)], capsys)[0] == 0
    plan = json.loads(out.read_text())
    plan["objective"] = 1.0
    out.write_text(json.dumps(plan))
    code, stdout, _ = run(["verify", str(path), str(out)], capsys)
    assert code == 1
    assert "cost-mismatch: stated objective 1.000000 but the plan costs 30.500000" in stdout
    # ship the bulky SKU from the store
    plan = json.loads(out.read_text())
    plan["shipments"] = [{"order": "O-1", "node": "ST", "lines": [{"sku": "A", "qty": 2}]},
                         {"order": "O-2", "node": "ST", "lines": [{"sku": "B", "qty": 1}]}]
    out.write_text(json.dumps(plan))
    code, stdout, _ = run(["verify", str(path), str(out)], capsys)
    assert code == 1
    assert "store-ineligible: SKU may not ship from a store (order O-2, node ST, sku B)" in stdout
    # a plan for another instance
    code, stdout, _ = run(["verify", str(HAND / "split.yaml"), str(out)], capsys)
    assert code == 1 and "instance: plan is for 'hand-store'" in stdout


def test_verify_with_a_bad_plan_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text('{"format": "router/plan-v1", "status": "done"}')
    code, stdout, err = run(["verify", str(HAND / "split.yaml"), str(bad)], capsys)
    assert code == 2
    assert f"{bad}: status: must be one of" in err
    assert f"{bad}: instance: required string is missing" in err
    assert "Traceback" not in err and stdout == ""
    code, _, err = run(["verify", str(HAND / "split.yaml"), str(tmp_path / "none.json")], capsys)
    assert code == 2 and "none.json: no such file" in err


def test_validate(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run(["validate", str(HAND / "split.yaml")], capsys)
    assert code == 0 and err == ""
    assert stdout.strip() == f"{HAND / 'split.yaml'}: valid: 1 orders, 2 lines, 3 nodes, 2 SKUs"
    path = gap_path("c0515_1")
    code, stdout, _ = run(["validate", str(path), "--format", "gap"], capsys)
    assert code == 0
    assert stdout.strip() == f"{path}: valid GAP instance: 5 agents, 15 jobs"


def test_solvers(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(["solvers"], capsys)
    assert code == 0
    names = [line.split()[0] for line in stdout.splitlines()]
    assert "greedy" in names and "auto" in names
    assert set(router.available_solvers()) <= set(names)


@pytest.mark.parametrize("argv", [[], ["frobnicate"], ["solve"], ["solve", "x.yaml", "--bogus"],
                                  ["solve", "x.yaml", "--time-limit", "soon"],
                                  ["validate", "x.yaml", "--format", "xml"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: router" in err and "Traceback" not in err


def test_unknown_solver_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "plan.json"
    code, _, err = run(["solve", str(HAND / "split.yaml"), "--solver", "nope", "-o", str(out)],
                       capsys)
    assert code == 2
    assert "unknown solver 'nope'" in err
    assert not out.exists()


def test_unwritable_output_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "missing-dir" / "plan.json"
    code, _, err = run(["solve", str(HAND / "split.yaml"), "--solver", "greedy", "-o", str(out)],
                       capsys)
    assert code == 2
    assert f"{out}: cannot write the plan" in err and "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"router {router.__version__}"


def test_python_dash_m_router(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    proc = subprocess.run([sys.executable, "-m", "router", "solve",
                           str(HAND / "unfillable.yaml"), "--solver", "greedy", "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith(
        "solver=greedy status=feasible reason=completed source=greedy objective=105.5000")
    assert json.loads(out.read_text())["unfilled"] == [{"order": "O-1", "sku": "Z", "qty": 2}]
    bad = subprocess.run([sys.executable, "-m", "router", "validate",
                          str(ROOT / "tests" / "data" / "bad_qty_zero.yaml")],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2
    assert "orders[0].lines[0].qty: must be a positive integer" in bad.stderr
    assert "Traceback" not in bad.stderr
