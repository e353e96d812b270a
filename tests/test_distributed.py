"""The ``distributed`` solver: regional shards under coordinated prices, on local processes
and on a local Ray instance (one per test module, 2 CPUs, started and stopped by the
``ray_instance`` fixture of tests/conftest.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import router
from router.cli.main import main
from router.compile import compile_problem
from router.distributed.executors import InlineExecutor, make_executor
from router.distributed.sharding import make_shards, shard_arrays, shard_orders
from router.distributed.worker import KILL_ENV, ShardWorker
from router.errors import OptionError
from router.evaluate import objective
from router.plan import x_from_plan
from router.solvers.bounds.dual import DualPrices, Lagrangian, evaluate
from tests.conftest import HAND, HAND_OPTIMA, gap_path

ray_group = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def small() -> router.Instance:
    return router.generate("s", seed=3)


def _x(inst: router.Instance, plan: router.Plan) -> np.ndarray:
    x, why = x_from_plan(compile_problem(inst), plan)
    assert x is not None, why
    return x


def _check(inst: router.Instance, plan: router.Plan) -> None:
    assert plan.has_plan
    report = router.verify(inst, plan)
    assert report.ok
    assert plan.lower_bound is not None and plan.lower_bound <= plan.objective + 1e-6


# ------------------------------------------------------------------------------------------
# sharding and the bound


def test_shards_partition_the_batch_and_keep_its_arrays(small: router.Instance) -> None:
    p = compile_problem(small)
    sh = shard_orders(p, 3)
    assert sh.n_shards == 3
    sizes = np.bincount(sh.shard_of, minlength=3)
    assert sizes.sum() == p.n_orders and sizes.max() - sizes.min() <= 1
    shards = make_shards(p, sh)
    orders = np.concatenate([s.orders for s in shards])
    assert np.array_equal(np.sort(orders), np.arange(p.n_orders))
    assert np.array_equal(np.sort(np.concatenate([s.line_arcs for s in shards])),
                          np.arange(p.n_line_arcs))
    # a plan routed shard by shard costs, joined, what its parts cost
    x = np.zeros(p.n_line_arcs, dtype=np.int64)
    parts = 0.0
    rng = np.random.default_rng(0)
    for s in shards:
        sp = s.problem
        assert np.array_equal(sp.e_unit_cost, p.e_unit_cost[s.line_arcs])
        assert np.array_equal(sp.pool_qty, p.pool_qty[s.pools])
        assert np.array_equal(s.pools[sp.e_pool], p.e_pool[s.line_arcs])
        assert np.array_equal(s.orders[sp.arc_order], p.arc_order[s.arcs])
        xs = np.where(rng.random(sp.n_line_arcs) < 0.3, 1, 0) * np.minimum(sp.e_ub, 1)
        # at most one unit per line: shipped never above the quantity
        first = np.r_[True, sp.e_line[1:] != sp.e_line[:-1]]
        xs = np.where(first, xs, 0)
        x[s.line_arcs] = xs
        parts += objective(sp, xs)
    assert math.isclose(objective(p, x), parts, rel_tol=1e-9)
    # the arrays a worker gets rebuild the same problem
    w = ShardWorker(shard_arrays(shards[0]), remote=False)
    assert w.p.n_orders == shards[0].problem.n_orders
    assert np.array_equal(w.p.e_arc, shards[0].problem.e_arc)


def test_regions_keep_most_candidates_in_the_shard() -> None:
    p = compile_problem(router.generate("l", seed=1))
    sh = shard_orders(p, 2)
    assert sh.hubs >= 2
    # most lines have their cheapest source at a node that serves mostly their own shard
    assert sh.locality > 0.75
    # a split by order index is far less regional
    scattered = np.arange(p.n_orders) % 2
    from router.distributed.sharding import locality

    assert locality(p, scattered, 2) < sh.locality - 0.1


def test_bound_is_the_sum_of_the_shards_parts(small: router.Instance) -> None:
    p = compile_problem(small)
    lag = Lagrangian(p)
    rng = np.random.default_rng(5)
    lam = rng.random(lag.n_rows) * lag.cap * (rng.random(lag.n_rows) < 0.3)
    central = evaluate(p, DualPrices.from_vector(p, lam))
    shards = make_shards(p, shard_orders(p, 3))
    ex = InlineExecutor([shard_arrays(s) for s in shards], workers=3)
    rows = [s.rows(len(p.pool_qty)) for s in shards]
    out = ex.call("evaluate", [(lam[r],) for r in rows])
    total = sum(o[0] for o in out) - float(np.dot(lam, lag.b))
    assert math.isclose(total, central, rel_tol=1e-8)
    # the shards' loads add up to the relaxed plan's load
    load = np.zeros(lag.n_rows)
    for r, o in zip(rows, out, strict=True):
        load[r] += o[2]
    _, ans = lag.value(lam)
    assert np.allclose(np.where(lag.finite, load, 0.0), lag.usage(ans.x, ans.y))


@pytest.mark.parametrize("name", sorted(HAND_OPTIMA))
def test_bound_never_above_the_optimum_hand(name: str) -> None:
    inst = router.load(HAND / f"{name}.yaml")
    plan = router.solve(inst, "distributed", work_limit=30, executor="inline", workers=2,
                        shards=2)
    _check(inst, plan)
    assert plan.lower_bound <= HAND_OPTIMA[name] + 1e-6
    assert plan.objective >= HAND_OPTIMA[name] - 1e-6


@pytest.mark.parametrize("preset,seed", [("xs", 1), ("xs", 2), ("xs", 3), ("s", 1), ("s", 2)])
def test_bound_never_above_the_optimum(preset: str, seed: int) -> None:
    inst = router.generate(preset, seed=seed)
    opt = router.solve(inst, "ortools-highs", time_limit=60, mip_gap=0.0)
    assert opt.status == "optimal"
    plan = router.solve(inst, "distributed", work_limit=40, executor="inline", shards=3)
    _check(inst, plan)
    assert plan.lower_bound <= opt.objective + 1e-6 * max(1.0, abs(opt.objective))
    assert plan.objective >= opt.objective - 1e-6 * max(1.0, abs(opt.objective))


# ------------------------------------------------------------------------------------------
# the process executor


def test_process_executor_gives_a_verified_plan(small: router.Instance) -> None:
    plan = router.solve(small, "distributed", work_limit=40, workers=2)
    _check(small, plan)
    assert plan.solver == "distributed"
    st = plan.stats
    assert st["executor"] == "process" and st["shards"] == 2
    assert st["failures"] == 0 and len(st["worker_cpu_seconds"]) == 2
    assert all(c["method"] for c in st["calls"])
    # the zero-price bound is improved on by the coordinated prices
    steps = st["bound_history"]
    assert steps[0]["step"] == "zero prices"
    assert plan.lower_bound >= steps[0]["bound"]


def test_time_limited_run(small: router.Instance) -> None:
    plan = router.solve(small, "distributed", time_limit=3.0, workers=2)
    _check(small, plan)
    names = [s.name for s in plan.stats.stages]
    assert names[:3] == ["shard", "start", "zero prices"] and "route" in names
    assert plan.stats.time_limit == 3.0


def test_killed_process_worker_is_replaced(small: router.Instance, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    clean = router.solve(small, "distributed", work_limit=40, workers=2)
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ENV, f"route:1:{marker}")
    plan = router.solve(small, "distributed", work_limit=40, workers=2)
    assert marker.exists()  # a worker really died (SIGKILL) in the middle of routing
    _check(small, plan)
    assert plan.stats["failures"] >= 1 and plan.stats["retries"] >= 1
    assert np.array_equal(_x(small, plan), _x(small, clean))


def test_lost_worker_falls_back_to_the_coordinator(small: router.Instance, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    clean = router.solve(small, "distributed", work_limit=40, workers=2)
    monkeypatch.setenv(KILL_ENV, f"evaluate:0:{tmp_path / 'killed'}")
    plan = router.solve(small, "distributed", work_limit=40, workers=2, retries=0)
    _check(small, plan)
    assert plan.stats["inline_calls"] >= 1
    assert np.array_equal(_x(small, plan), _x(small, clean))


def test_options_are_checked(small: router.Instance) -> None:
    with pytest.raises(OptionError, match="executor"):
        router.solve(small, "distributed", executor="threads")
    with pytest.raises(OptionError, match="workers"):
        router.solve(small, "distributed", workers=0)
    with pytest.raises(OptionError, match="did you mean"):
        router.solve(small, "distributed", worker=2)


def test_gap_batches_are_routed_by_auto() -> None:
    inst = router.load(gap_path("a05100"), format="gap")
    plan = router.solve(inst, "distributed", work_limit=30)
    assert plan.has_plan
    router.verify(inst, plan)
    assert any("auto" in n for n in plan.stats.notes)


def test_ray_is_optional(small: router.Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails
    p = compile_problem(small)
    shards = [shard_arrays(s) for s in make_shards(p, shard_orders(p, 2))]
    with pytest.raises(OptionError, match=r"router\[ray\]"):
        make_executor("ray", shards, 2)
    with pytest.raises(OptionError, match=r"router\[ray\]"):
        router.solve(small, "distributed", executor="ray", work_limit=5)


def test_nothing_else_imports_ray() -> None:
    code = ("import sys, router; router.available_solvers(); "
            "inst = router.generate('xs', seed=1); "
            "router.solve(inst, 'distributed', work_limit=10, workers=2); "
            "print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(HAND.parent.parent)})
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------------------------
# Ray


@ray_group
def test_ray_gives_the_same_verified_plan(small: router.Instance, ray_instance: Any) -> None:
    by_process = router.solve(small, "distributed", work_limit=40, workers=2, seed=7)
    by_ray = router.solve(small, "distributed", work_limit=40, workers=2, seed=7,
                          executor="ray")
    _check(small, by_ray)
    assert by_ray.stats["executor"] == "ray"
    assert by_ray.stats["setup_bytes"] > 0  # the shards were put in the object store
    assert np.array_equal(_x(small, by_ray), _x(small, by_process))
    assert by_ray.lower_bound == by_process.lower_bound
    inline = router.solve(small, "distributed", work_limit=40, workers=2, seed=7,
                          executor="inline")
    assert np.array_equal(_x(small, inline), _x(small, by_process))


@ray_group
def test_killed_ray_actor_is_retried(small: router.Instance, ray_instance: Any,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = router.solve(small, "distributed", work_limit=40, workers=2, executor="ray")
    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_ENV, f"route:0:{marker}")
    plan = router.solve(small, "distributed", work_limit=40, workers=2, executor="ray")
    assert marker.exists()
    _check(small, plan)
    assert plan.stats["retries"] + plan.stats["inline_calls"] >= 1
    assert np.array_equal(_x(small, plan), _x(small, clean))


@ray_group
def test_cli_ray(tmp_path: Path, ray_instance: Any) -> None:
    src = tmp_path / "batch.json"
    assert main(["generate", "--preset", "xs", "--seed", "2", "-o", str(src)]) == 0
    out = tmp_path / "plan.json"
    assert main(["solve", str(src), "--ray", "--work-limit", "20", "-o", str(out)]) == 0
    plan = router.Plan.read(out)
    assert plan.solver == "distributed" and plan.stats["executor"] == "ray"
    assert main(["verify", str(src), str(out)]) == 0
    assert main(["solve", str(src), "--ray", "--solver", "greedy"]) == 2


def test_too_little_time_to_start_workers_keeps_the_floor(small: router.Instance) -> None:
    """Below min_start_seconds no worker starts: the plan is the pipeline's greedy floor, the
    limit says time and the reason is given."""
    plan = router.solve(small, solver="distributed", time_limit=0.05)
    assert plan.has_plan and plan.source == "greedy"
    assert plan.termination is not None and plan.termination.limit == "time"
    assert "min_start_seconds" in plan.termination.detail
    assert router.verify(small, plan, raise_on_error=False).ok
