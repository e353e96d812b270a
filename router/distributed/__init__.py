"""One large batch routed as shards by several workers under coordinated prices.

- :mod:`~router.distributed.sharding`: orders split into shards by region; a shard as
  compiled numpy arrays;
- :mod:`~router.distributed.worker`: what a worker does for a shard (its part of the
  Lagrangian bound and its loads at given prices, a price estimate, a plan within the limits
  allotted to it);
- :mod:`~router.distributed.executors`: where workers run (local processes, Ray actors, or
  the caller's process), retries of lost workers;
- :mod:`~router.distributed.coordinator`: the price coordination (dual decomposition) and
  the ``distributed`` solver's run;
- :mod:`~router.distributed.repair`: the union of the shards' plans made one feasible plan.

The solver is registered as ``distributed`` (kind portfolio) and used through
``router.solve(instance, "distributed", workers=2, executor="process")``; batch after batch,
``with open_pool(DistributedParams(workers=2)):`` keeps the workers across the calls.
"""

from router.distributed.coordinator import DistributedParams, decompose, open_pool

__all__ = ["DistributedParams", "decompose", "open_pool"]
