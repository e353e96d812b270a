"""``distributed``: the batch split into regional shards routed by several workers (local
processes or Ray actors) under prices coordinated by dual decomposition, with a proven
Lagrangian bound (:mod:`router.distributed`)."""

from __future__ import annotations

from router.compile import Problem
from router.contract import Outcome, Params, Run
from router.distributed.coordinator import DistributedParams, decompose, open_pool
from router.distributed.executors import ExecutorPool
from router.solvers.registry import register


def _session(params: Params) -> ExecutorPool:
    """The workers kept across a run of batches (the executor started once)."""
    return open_pool(params if isinstance(params, DistributedParams) else DistributedParams())


@register("distributed", "regional shards routed by several workers (processes or Ray) under "
                         "prices coordinated by dual decomposition; proven Lagrangian bound",
          "portfolio", params=DistributedParams,
          work_unit="a column-generation round of the price estimate, a coordination round, "
                    "or a local-search move of the shards (in parallel) or of the repair",
          session=_session)
def solve_distributed(problem: Problem, run: Run) -> Outcome:
    return decompose(problem, run)
