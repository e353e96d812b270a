"""A plan a person can read: Plan str/repr, plan files by extension (JSON with per-shipment
details, CSV), router solve on a terminal, router show and its map, verify summaries."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import router
from router.cli import main
from router.errors import InputError
from router.instance import Instance
from router.plan import Plan
from router.show import format_summary, summarize
from tests.conftest import HAND, HAND_OPTIMA, ROOT

XS = ROOT / "instances" / "xs.yaml"
S = ROOT / "instances" / "s.yaml"


def hand(name: str, solver: str = "ortools-highs") -> tuple[Instance, Plan]:
    inst = router.load(HAND / f"{name}.yaml")
    assert isinstance(inst, Instance)
    return inst, router.solve(inst, solver=solver, time_limit=10)


@pytest.fixture(scope="module")
def sale_day() -> tuple[Instance, Plan]:
    inst = router.load(S)
    assert isinstance(inst, Instance)
    return inst, router.solve(inst, solver="greedy")


# ----------------------------------------------------------------------------------------------
# Plan: str, repr, details, files


def test_str_and_repr_are_short(sale_day: tuple[Instance, Plan]) -> None:
    inst, plan = sale_day
    text = str(plan)
    assert 2 <= len(text.splitlines()) <= 4
    assert text.startswith(f"plan of {inst.name} by greedy: feasible, cost ")
    assert f"{len(plan.shipments):,} shipments" in text
    assert f"{sum(u.qty for u in plan.unfilled):,} units unfilled" in text
    r = repr(plan)
    assert len(r) < 300 and f"{len(plan.shipments)} shipments" in r and "\n" not in r
    empty = Plan("i", "s", "no_solution", None, None, None, (), (), {})
    assert str(empty) == "plan of i by s: no_solution, nothing to ship"


@pytest.mark.parametrize("name", sorted(HAND_OPTIMA))
def test_details_are_the_shipments_own_cost(name: str, tmp_path: Path) -> None:
    inst, plan = hand(name)
    detailed = plan.with_details(inst)
    assert detailed == plan  # details take no part in comparisons
    assert all(s.km is not None and s.zone is not None and s.cost is not None
               for s in detailed.shipments)
    assert plan.cost is not None
    assert math.fsum(s.cost or 0.0 for s in detailed.shipments) == pytest.approx(
        plan.cost.package + plan.cost.unit, abs=1e-9)
    path = tmp_path / "plan.json"
    detailed.write(path)
    d = json.loads(path.read_text())
    for s, ds in zip(detailed.shipments, d["shipments"], strict=True):
        assert list(ds) == ["order", "node", "km", "zone", "cost", "lines"]
        assert ds["zone"] == s.zone and ds["km"] == pytest.approx(s.km, abs=1e-3)
    back = Plan.read(path)
    assert back.shipments == plan.shipments and back.unfilled == plan.unfilled
    assert [(s.km, s.zone) for s in back.shipments] == [
        (round(s.km or 0.0, 3), s.zone) for s in detailed.shipments]
    router.verify(inst, back)
    # a plan without details (every older plan) reads as before, and writes as before
    assert "km" not in plan.to_dict()["shipments"][0]


def test_write_adds_details_with_the_instance(tmp_path: Path) -> None:
    inst, plan = hand("split")
    plan.write(tmp_path / "p.json", instance=inst)
    ships = json.loads((tmp_path / "p.json").read_text())["shipments"]
    assert [(s["zone"], s["cost"]) for s in ships] == [(1, 5.5), (1, 5.5)]
    assert ships[0]["km"] == pytest.approx(22.239, abs=1e-3)


def test_bad_details_are_reported() -> None:
    _, plan = hand("split")
    d = plan.to_dict()
    d["shipments"][0]["zone"] = 0
    d["shipments"][1]["km"] = "far"
    with pytest.raises(InputError) as err:
        Plan.from_dict(d)
    assert [p for p, _ in err.value.problems] == ["shipments[0].zone", "shipments[1].km"]


def test_csv_has_one_row_per_shipment_line(tmp_path: Path,
                                           sale_day: tuple[Instance, Plan]) -> None:
    inst, plan = sale_day
    path = tmp_path / "plan.csv"
    plan.write(path, instance=inst)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    shipped = [r for r in rows if r["state"] == "shipped"]
    unfilled = [r for r in rows if r["state"] == "unfilled"]
    assert len(shipped) == sum(len(s.lines) for s in plan.shipments)
    assert len(unfilled) == len(plan.unfilled) and all(r["node"] == "" for r in unfilled)
    assert sum(int(r["qty"]) for r in shipped) == sum(s.units for s in plan.shipments)
    assert plan.cost is not None
    # the shipment cost stands once per shipment: the column sums to the shipping cost
    assert math.fsum(float(r["shipment_cost"]) for r in shipped if r["shipment_cost"]) == \
        pytest.approx(plan.cost.package + plan.cost.unit, rel=1e-9)
    assert {r["zone"] for r in shipped} <= {"1", "2", "3", "4"}
    with pytest.raises(InputError, match="CSV plan"):
        Plan.read(path)


@pytest.mark.parametrize("name", ["plan.txt", "plan", "plan.yaml"])
def test_other_extensions_are_rejected(tmp_path: Path, name: str) -> None:
    _, plan = hand("split", "greedy")
    with pytest.raises(InputError, match=r"use \.json .* or \.csv"):
        plan.write(tmp_path / name)
    assert not (tmp_path / name).exists()


# ----------------------------------------------------------------------------------------------
# the command line: solve, verify


def test_solve_writes_by_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = str(HAND / "store.yaml")
    assert main(["solve", f, "--solver", "greedy", "-o", str(tmp_path / "p.csv")]) == 0
    text = (tmp_path / "p.csv").read_text()
    assert text.splitlines()[0] == "order,node,sku,qty,state,km,zone,shipment_cost"
    assert main(["solve", f, "--solver", "greedy", "-o", str(tmp_path / "p.json")]) == 0
    d = json.loads((tmp_path / "p.json").read_text())
    assert d["format"] == "router/plan-v1" and all("zone" in s for s in d["shipments"])
    capsys.readouterr()
    assert main(["solve", f, "-o", str(tmp_path / "p.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{tmp_path / 'p.txt'}: cannot write a plan with extension '.txt'")
    assert "solver=" not in err  # rejected before any work
    assert not (tmp_path / "p.txt").exists()


def test_solve_on_a_terminal_prints_the_summary(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert main(["solve", str(HAND / "split.yaml"), "--solver", "greedy"]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("plan of hand-split by greedy: feasible, cost 11.00")
    assert "{" not in cap.out and len(cap.out.splitlines()) <= 4
    assert "-o plan.json" in cap.err and "solver=greedy" in cap.err


def test_verify_summarises_many_problems(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.json"
    assert main(["solve", str(S), "--solver", "greedy", "-o", str(out)]) == 0
    capsys.readouterr()
    # the plan of one batch checked against another: hundreds of problems
    assert main(["verify", str(XS), str(out)]) == 1
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert len(lines) <= 25
    assert lines[0].startswith(f"{out}: plan has ") and "problem(s)" in lines[0]
    assert lines[1].startswith("  by kind: ") and "instance 1" in lines[1]
    assert lines[-1].startswith("  ... and ") and lines[-1].endswith(" more")
    n = int(lines[0].split("plan has ")[1].split(" ")[0].replace(",", ""))
    assert n > 100
    assert main(["verify", str(XS), str(out), "--all"]) == 1
    assert len(capsys.readouterr().out.splitlines()) == n + 2


def test_report_summary_counts_by_kind() -> None:
    inst, plan = hand("capacity")
    bad = replace(plan, shipments=plan.shipments + plan.shipments, objective=0.0)
    rep = router.verify(inst, bad, raise_on_error=False)
    counts = rep.counts()
    assert sum(counts.values()) == len(rep.violations)
    assert list(counts.values()) == sorted(counts.values(), reverse=True)
    short = rep.summary(limit=2)
    assert short.count("\n  ") >= 3 and f"and {len(rep.violations) - 2} more" in short
    assert len(rep.summary(limit=None).splitlines()) == len(rep.violations) + 2
    assert str(rep) == rep.summary()


# ----------------------------------------------------------------------------------------------
# router show


def test_summary_of_the_capacity_batch() -> None:
    inst, plan = hand("capacity")
    s = summarize(plan, inst)
    assert s.split is not None and s.split.total == pytest.approx(22.5)
    assert (s.split.zone_package, s.split.weight) == (pytest.approx(18.0), pytest.approx(4.5))
    assert s.packages_per_order == ((1, 3),) and s.split_rate == 0.0
    assert s.nodes[0].node == "WH-near" and s.nodes[0].utilisation == 1.0
    assert s.binding is not None
    assert s.binding.node_packages == ("WH-near",) and s.binding.node_units == ("WH-near",)
    assert s.store_shipments == 0 and s.unfilled_units == 0
    text = format_summary(s)
    assert "WH-near" in text and "packages 2/2 (100.0%)" in text


def test_summary_split_store_and_unfilled() -> None:
    inst, plan = hand("split")
    s = summarize(plan, inst)
    assert s.packages_per_order == ((2, 1),) and s.split_rate == 1.0 and s.mean_packages == 2
    inst, plan = hand("store")
    s = summarize(plan, inst)
    assert (s.store_shipments, s.store_units, s.shipments, s.units) == (1, 2, 2, 3)
    inst, plan = hand("unfillable")
    s = summarize(plan, inst)
    assert (s.unfilled_units, s.unfilled_lines, s.unfilled_orders) == (2, 1, 1)
    assert s.split is not None and s.split.unfilled == 100.0
    assert summarize(plan).split is None  # without the instance: what the plan says


def test_summary_prices(sale_day: tuple[Instance, Plan]) -> None:
    from router.duals import lp_prices

    inst, plan = sale_day
    prices = lp_prices(inst, 30)
    s = summarize(plan, inst, prices=prices, top=5)
    assert prices.solved and prices.bound is not None, prices
    assert plan.objective is not None and prices.bound <= plan.objective + 1e-6
    assert len(s.top_prices) == 5
    assert [t.price for t in s.top_prices] == sorted((t.price for t in s.top_prices),
                                                     reverse=True)
    assert s.binding is not None and s.shipments == len(plan.shipments)
    d = json.loads(json.dumps(s.to_dict()))["prices"]
    assert (d["status"], d["method"], d["converged"]) == ("proven", "lp", True)


def test_cli_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f, out = str(HAND / "capacity.yaml"), str(tmp_path / "p.json")
    assert main(["solve", f, "--solver", "greedy", "-o", out]) == 0
    capsys.readouterr()
    assert main(["show", out, "--instance", f]) == 0
    text = capsys.readouterr().out
    assert text.startswith("plan of hand-capacity by greedy") and "split rate 0.0%" in text
    assert main(["show", out, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["shipments"] == 3 and d["split"] is None
    assert main(["show", out, "--map", str(tmp_path / "m.png")]) == 2  # needs --instance
    assert "--map needs --instance" in capsys.readouterr().err
    assert main(["show", out, "--instance", str(HAND / "split.yaml")]) == 2
    assert "is for instance 'hand-capacity'" in capsys.readouterr().err


def test_map(tmp_path: Path, capsys: pytest.CaptureFixture[str],
             sale_day: tuple[Instance, Plan]) -> None:
    from router.plot import draw_map

    inst, plan = sale_day
    assert draw_map(plan, inst, tmp_path / "a.png") is False
    assert draw_map(plan, inst, tmp_path / "b.png", density=True) is True
    for name in ("a.png", "b.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    f, out = str(HAND / "unfillable.yaml"), str(tmp_path / "p.json")
    assert main(["solve", f, "--solver", "greedy", "-o", out]) == 0
    assert main(["show", out, "--instance", f, "--map", str(tmp_path / "c.svg")]) == 0
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")


def test_map_without_matplotlib(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    from router.plot import PlotUnavailable, draw_map

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    inst, plan = hand("split", "greedy")
    with pytest.raises(PlotUnavailable, match=r"pip install 'router\[plot\]'"):
        draw_map(plan, inst, tmp_path / "m.png")
    f, out = str(HAND / "split.yaml"), str(tmp_path / "p.json")
    plan.write(out)
    assert main(["show", out, "--instance", f, "--map", str(tmp_path / "m.png")]) == 2
    assert "router[plot]" in capsys.readouterr().err
    assert not (tmp_path / "m.png").exists()
