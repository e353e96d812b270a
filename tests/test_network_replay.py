"""The day generator and the replay: deterministic for a seed, every unit accounted for, the
hindsight bound below every policy's cost, and the `router replay` report."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import router
from router.cli import main
from router.io.write import write
from router.network import Network
from router.network.day import DayParams, arrival_rate, generate_day, write_generated_day
from router.network.events import read_day
from router.network.replay import ReplayOptions, hindsight_bound, replay

DAY_KNOBS = {"orders": 800, "duration": 12 * 3600.0, "replenish_hours": (1.0, 6.0, 11.0)}


@pytest.fixture(scope="module")
def network() -> router.Instance:
    return router.generate("s", seed=2)


@pytest.fixture(scope="module")
def day_file(network: router.Instance, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("day") / "day.jsonl"
    write_generated_day(path, network, seed=5, **DAY_KNOBS)
    return path


def _read(net: Network, path: Path) -> Any:
    return read_day(path, net.node_index, net.sku_index, net.ledger.s.pools_of)


def test_a_day_is_the_same_for_a_seed(network: router.Instance, day_file: Path,
                                      tmp_path: Path) -> None:
    again = tmp_path / "again.jsonl"
    write_generated_day(again, network, seed=5, **DAY_KNOBS)
    assert again.read_bytes() == day_file.read_bytes()
    other = tmp_path / "other.jsonl"
    write_generated_day(other, network, seed=6, **DAY_KNOBS)
    assert other.read_bytes() != day_file.read_bytes()
    header, lines = generate_day(network, seed=5, **DAY_KNOBS)
    assert header["orders"] == 800 and header["network"] == network.name
    events = [json.loads(x) for x in lines]
    kinds = Counter(e["type"] for e in events)
    assert kinds["order"] == 800
    assert {"acceptance", "sale", "replenish", "cancel"} <= set(kinds)
    times = [e["t"] for e in events]
    assert times == sorted(times) and times[0] >= 0 and times[-1] < DAY_KNOBS["duration"]


def test_the_curve_has_the_opening_spike_and_the_evening_peak() -> None:
    p = DayParams()
    t = np.arange(0.0, 86400.0, 1.0)
    r = arrival_rate(t, p)
    assert r.argmax() == 0  # midnight
    assert 15 < r.max() / r.mean() < 30  # 583,000/s against about 27,000/s in 2020
    hourly = r.reshape(24, 3600).mean(axis=1)
    assert hourly.argmax() == 0
    assert hourly[4] == hourly[1:].min()  # the night's low
    assert hourly[21] > hourly[12]  # the evening peak


@pytest.mark.parametrize(("solver", "work_limit", "window"),
                         [("greedy", None, 10.0), ("auto", 30, 1800.0)])
def test_replay_is_the_same_for_a_seed(network: router.Instance, day_file: Path, solver: str,
                                       work_limit: int | None, window: float) -> None:
    results = []
    for _ in range(2):
        net = Network(network, wait_limit=1800.0)
        day = _read(net, day_file)
        res = replay(net, day, ReplayOptions(window=window, solver=solver,
                                             work_limit=work_limit, seed=3))
        results.append((res, list(net.ledger.plan_ids), net.ledger.on_hand.copy()))
    (a, plans_a, stock_a), (b, plans_b, stock_b) = results
    assert plans_a == plans_b  # the same plans, batch after batch (ids are their contents)
    assert np.array_equal(stock_a, stock_b)
    timing = {"latency_p50", "latency_p99", "latency_max", "latency_wall_p50",
              "latency_wall_p99", "latency_wall_max", "seconds_per_order", "cpu_seconds",
              "throughput", "delay_p50", "delay_p99", "delay_max", "kept_up"}
    ma = {k: v for k, v in a.metrics.items() if k not in timing}
    mb = {k: v for k, v in b.metrics.items() if k not in timing}
    assert ma == mb
    assert np.array_equal(a.batches["new"], b.batches["new"])


def test_every_unit_is_accounted_for_and_hindsight_bounds_every_policy(
        network: router.Instance, day_file: Path) -> None:
    start = Network(network, wait_limit=1800.0)
    day = _read(start, day_file)
    costs = {}
    for window, solver in ((0.0, "greedy"), (60.0, "greedy"), (0.0, "nearest")):
        net = start.copy()
        res = replay(net, day, ReplayOptions(window=window, solver=solver, seed=1))
        u = res.metrics["units"]
        assert u["balanced"]
        assert u["arrived"] == day.units() == (u["shipped"] + u["waiting"] + u["cancelled"]
                                                + u["dropped"] + u["dropped_before_routing"])
        assert net.audit() == []
        assert res.metrics["cancels"] > 0 and res.metrics["declines"] > 0
        # a declined order never ships again from the store that declined it
        led = net.ledger
        for o, nodes in led.banned.items():
            ks = led.order_packages(o)
            assert not ((led.k_state.a[ks] == 0) & np.isin(led.k_node.a[ks], list(nodes))).any()
        costs[(window, solver)] = res.metrics["cost"]["total"]
    hb = hindsight_bound(start, day, solver="lagrangian", time_limit=1.0)
    assert hb["bound"] is not None and hb["bound"] > 0
    assert all(hb["bound"] <= c + 1e-6 for c in costs.values()), (hb, costs)
    assert costs[(0.0, "greedy")] < costs[(0.0, "nearest")]


def test_replay_command_writes_the_report(network: router.Instance, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "net.json"
    write(network, src)
    day_file = tmp_path / "day.jsonl"
    write_generated_day(day_file, network, seed=8, orders=300, duration=12 * 3600.0)
    report = tmp_path / "out" / "day.md"
    figures = tmp_path / "out" / "day.json"
    argv = ["replay", str(day_file), "--network", str(src), "--window", "10", "--seed", "2",
            "--baselines", "--sweep", "0,10,60", "--hindsight", "lagrangian",
            "--hindsight-time-limit", "1", "--report", str(report), "--json", str(figures)]
    assert main(argv) == 0
    text = report.read_text(encoding="utf-8")
    for part in ("## Latency and throughput", "| batch latency, CPU ms |", "## Cost and service",
                 "**balanced**", "## Against the baselines", "real time, nearest",
                 "real time, fewest-splits", "Hindsight bound", "## Window sweep",
                 "| 60 s |", "![batch latency over the day](day_latency.png)"):
        assert part in text, part
    for png in ("day_rates.png", "day_latency.png", "day_windows.png"):
        assert (report.parent / png).stat().st_size > 1000
    data = json.loads(figures.read_text(encoding="utf-8"))
    assert [s["window"] for s in data["sweep"]] == [0.0, 10.0, 60.0]
    assert data["main"]["units"]["balanced"]
    assert data["hindsight"]["bound"] <= min(s["cost"]["total"] for s in data["sweep"])
    assert "units balanced" in capsys.readouterr().err


def test_replay_into_a_ledger_file_and_paced(network: router.Instance, tmp_path: Path) -> None:
    day = tmp_path / "short.jsonl"
    write_generated_day(day, network, seed=1, orders=200, duration=60.0)
    src = tmp_path / "net.json"
    write(network, src)
    db = tmp_path / "net.db"
    assert main(["replay", str(day), "--network", str(src), "--ledger", str(db),
                 "--window", "5", "--pace", "200"]) == 0
    with Network.open(db) as net:
        assert net.audit() == [] and net.accounting().ordered > 0
        assert net.clock == 60.0
    assert main(["replay", str(day), "--network", str(src), "--ledger", str(db)]) == 2


def test_generate_day_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "d.jsonl"
    assert main(["generate", "--day", "--preset", "xs", "--seed", "4", "--day-orders", "300",
                 "-o", str(out)]) == 0
    first = out.read_bytes()
    assert main(["generate", "--day", "--preset", "xs", "--seed", "4", "--day-orders", "300",
                 "-o", str(out)]) == 0
    assert out.read_bytes() == first
    assert first.splitlines()[0].startswith(b'{"format":"router/day-v1"')
    capsys.readouterr()
    assert main(["generate", "--day", "--preset", "xs", "-o", str(tmp_path / "d.json")]) == 2
    assert main(["generate", "--preset", "xs", "--day-orders", "5",
                 "-o", str(tmp_path / "b.json")]) == 2
    assert "--day-orders: only with --day" in capsys.readouterr().err
    assert main(["generate", "--day", "--preset", "xs", "--spike", "-1",
                 "-o", str(out)]) == 2
