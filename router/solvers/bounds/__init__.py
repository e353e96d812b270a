"""Lower bounds on the optimum.

- :mod:`~router.solvers.bounds.dual`: the Lagrangian dual of the coupling rows (stock pools,
  node packages, node units) maximised by column generation over exact per-order plans: a
  proven bound at least as strong as the LP relaxation, and the prices of those rows.
  :func:`lagrangian_bound` is the entry point; :func:`evaluate` proves the bound of any
  prices.
- :mod:`~router.solvers.bounds.oracle`: the per-order subproblem, solved exactly.
- :mod:`~router.solvers.bounds.knapsack`: on assignment batches (GAP), the Lagrangian of the
  "each order once" rows instead: one 0-1 knapsack per node, solved exactly; at least the LP
  bound from the dual's prices, and often above it on tight batches.
- :mod:`~router.solvers.bounds.lagrangian`: the ``lagrangian`` solver (priced plans).
"""

from router.solvers.bounds.dual import (
    BoundParams,
    BoundResult,
    BoundStats,
    DualPrices,
    Lagrangian,
    evaluate,
    lagrangian_bound,
)

__all__ = ["BoundParams", "BoundResult", "BoundStats", "DualPrices", "Lagrangian", "evaluate",
           "lagrangian_bound"]
