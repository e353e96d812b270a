"""A day replayed with the ``distributed`` solver: every batch on one executor started once
for the replay (local processes or a local Ray instance), the same result on both for a seed
and work limit, every unit accounted for, the workers stopped at the end (also on an error or
Ctrl-C), and solver options checked like ``router.solve``'s."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import router
from router.cli.main import main
from router.distributed import DistributedParams, open_pool
from router.distributed.executors import active_pool
from router.errors import OptionError
from router.io.write import write
from router.network import Network
from router.network.day import write_generated_day
from router.network.events import read_day
from router.network.replay import ReplayOptions, replay

ray_group = pytest.mark.xdist_group("ray")

WORK = 30
SEED = 3
WINDOW = 1800.0
TIMING = {"latency_p50", "latency_p99", "latency_max", "latency_wall_p50", "latency_wall_p99",
          "latency_wall_max", "seconds_per_order", "cpu_seconds", "throughput", "delay_p50",
          "delay_p99", "delay_max", "kept_up"}
NOT_COMPARED = TIMING | {"executor", "solver_options"}


@pytest.fixture(scope="module")
def network() -> router.Instance:
    return router.generate("s", seed=2)


@pytest.fixture(scope="module")
def day_file(network: router.Instance, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("day") / "day.jsonl"
    write_generated_day(path, network, seed=5, orders=300, duration=4 * 3600.0)
    return path


def _replay(network: router.Instance, day_file: Path, **options: Any) -> tuple[Any, Network]:
    net = Network(network, wait_limit=1800.0)
    day = read_day(day_file, net.node_index, net.sku_index, net.ledger.s.pools_of)
    res = replay(net, day, ReplayOptions(window=WINDOW, solver="distributed", work_limit=WORK,
                                         seed=SEED, solver_options=options))
    return res, net


def _compared(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in NOT_COMPARED}


def _check_day(res: Any, net: Network) -> None:
    u = res.metrics["units"]
    assert u["balanced"]
    assert u["arrived"] == (u["shipped"] + u["waiting"] + u["cancelled"] + u["dropped"]
                            + u["dropped_before_routing"])
    assert u["shipped"] > 0
    assert net.audit() == []


def _check_executor(res: Any, name: str) -> None:
    ex = res.metrics["executor"]
    assert ex["executor"] == name and ex["workers"] == 2
    assert ex["starts"] == 1  # one start for the whole day ...
    assert ex["batches"] == res.metrics["batches"] >= 4  # ... whose batches all ran on it
    # each worker, one process for the whole day, counted the batches it served itself
    served = ex["served"]
    assert len(served) == 2 and len({s["pid"] for s in served}) == 2
    assert served[0]["batches"] == ex["batches"]
    assert all(s["calls"] >= s["batches"] for s in served)


@pytest.fixture(scope="module")
def by_process(network: router.Instance, day_file: Path) -> tuple[Any, list[str]]:
    before = set(multiprocessing.active_children())
    res, net = _replay(network, day_file, executor="process", workers=2)
    assert set(multiprocessing.active_children()) <= before  # the pool's processes stopped
    _check_day(res, net)
    return res, list(net.ledger.plan_ids)


def test_replay_on_one_process_pool(by_process: tuple[Any, list[str]],
                                    network: router.Instance, day_file: Path) -> None:
    res, plans = by_process
    _check_executor(res, "process")
    assert res.metrics["solver_options"] == {"executor": "process", "workers": 2}
    assert active_pool() is None  # the replay's pool is not left active
    inline, net = _replay(network, day_file, executor="inline", workers=2)
    _check_day(inline, net)
    assert list(net.ledger.plan_ids) == plans
    assert _compared(inline.metrics) == _compared(res.metrics)


@ray_group
def test_replay_on_ray_gives_the_same_day(by_process: tuple[Any, list[str]],
                                          network: router.Instance, day_file: Path,
                                          ray_instance: Any) -> None:
    res, net = _replay(network, day_file, executor="ray", workers=2)
    _check_day(res, net)
    _check_executor(res, "ray")
    assert list(net.ledger.plan_ids) == by_process[1]  # the same plans, batch after batch
    assert _compared(res.metrics) == _compared(by_process[0].metrics)
    assert ray_instance.is_initialized()  # the caller's Ray instance is kept


def test_a_pool_serves_batch_after_batch(network: router.Instance) -> None:
    batch = router.generate("xs", seed=4)
    alone = router.solve(batch, "distributed", work_limit=WORK, workers=2, seed=1)
    assert alone.stats["pooled"] is False  # the default path starts its own executor
    with open_pool(DistributedParams(workers=2)) as pool:
        assert active_pool() is pool
        plans = [router.solve(batch, "distributed", work_limit=WORK, workers=2, seed=1)
                 for _ in range(3)]
        other = router.solve(batch, "distributed", work_limit=WORK, workers=1, seed=1)
    assert active_pool() is None
    assert pool.starts == 1 and pool.batches == 3
    assert all(p.stats["pooled"] for p in plans) and other.stats["pooled"] is False
    assert len(pool.served) == 2 and pool.served[0]["batches"] == 3
    for p in plans:
        assert router.verify(batch, p).ok
        assert p.shipments == alone.shipments and p.lower_bound == alone.lower_bound


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_the_workers_stop_on_an_error_and_on_ctrl_c(network: router.Instance, day_file: Path,
                                                    stop: type[BaseException]) -> None:
    before = set(multiprocessing.active_children())
    seen: list[int] = []

    def progress(frac: float, info: dict[str, Any]) -> None:
        pool = active_pool()
        assert pool is not None and pool.name == "process"
        seen.append(len(set(multiprocessing.active_children()) - before))
        raise stop("stopped")

    net = Network(network, wait_limit=1800.0)
    day = read_day(day_file, net.node_index, net.sku_index, net.ledger.s.pools_of)
    with pytest.raises(stop):
        replay(net, day, ReplayOptions(window=WINDOW, solver="distributed", work_limit=WORK,
                                       solver_options={"workers": 2}), progress=progress)
    assert seen == [2]  # the two workers ran the first batch ...
    assert set(multiprocessing.active_children()) <= before  # ... and are gone
    assert active_pool() is None


def test_bad_solver_options(network: router.Instance) -> None:
    with pytest.raises(OptionError, match=r"unknown option 'worker' for solver 'distributed' "
                                          r"\(did you mean 'workers'\?\); valid options: .*"
                                          r"executor"):
        ReplayOptions(solver="distributed", solver_options={"worker": 2})
    with pytest.raises(OptionError, match="executor"):
        ReplayOptions(solver="distributed", solver_options={"executor": "threads"})
    net = Network(network)
    with pytest.raises(OptionError, match="valid options: none"):
        net.route([], solver="greedy", solver_options={"workers": 2})
    assert net.ledger.n_orders == 0


def test_cli_param_and_bad_options(network: router.Instance, day_file: Path, tmp_path: Path,
                                   by_process: tuple[Any, list[str]],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "net.json"
    write(network, src)
    base = ["replay", str(day_file), "--network", str(src), "--window", str(WINDOW),
            "--wait-limit", "1800", "--seed", str(SEED), "--work-limit", str(WORK)]
    out = tmp_path / "out" / "day.json"
    assert main([*base, "--solver", "distributed", "--param", "executor=inline",
                 "--param", "workers=2", "--json", str(out), "--report",
                 str(tmp_path / "out" / "day.md")]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))["main"]
    assert data["executor"]["executor"] == "inline" and data["executor"]["starts"] == 1
    assert data["cost"] == pytest.approx(by_process[0].metrics["cost"])
    assert "`executor=inline` `workers=2`" in (tmp_path / "out" / "day.md").read_text()
    capsys.readouterr()
    bad = tmp_path / "bad" / "day.json"
    assert main([*base, "--solver", "distributed", "--param", "worker=2",
                 "--json", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown option 'worker'" in err and "valid options:" in err and "Traceback" not in err
    assert not bad.exists()
    assert main([*base, "--param", "workers=2"]) == 2  # greedy has no parameters
    assert "valid options: none" in capsys.readouterr().err
    assert main([*base, "--ray", "--solver", "greedy"]) == 2
    assert "--ray runs the distributed solver" in capsys.readouterr().err


@ray_group
def test_cli_ray(network: router.Instance, day_file: Path, tmp_path: Path,
                 by_process: tuple[Any, list[str]], ray_instance: Any) -> None:
    src = tmp_path / "net.json"
    write(network, src)
    out = tmp_path / "day.json"
    assert main(["replay", str(day_file), "--network", str(src), "--window", str(WINDOW),
                 "--wait-limit", "1800", "--seed", str(SEED), "--work-limit", str(WORK),
                 "--ray", "--json", str(out), "--report", str(tmp_path / "day.md")]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))["main"]
    assert data["solver"] == "distributed"
    assert data["solver_options"] == {"executor": "ray", "address": ""}
    assert data["executor"]["executor"] == "ray" and data["executor"]["starts"] == 1
    assert data["units"]["balanced"]
    assert data["cost"] == pytest.approx(by_process[0].metrics["cost"])
    assert np.isclose(data["cost"]["total"], by_process[0].metrics["cost"]["total"])
