"""Exact solvers: one MIP model (``model``), the driver every engine shares (``driver``) and
the engines: OR-Tools MathOpt (HiGHS, SCIP, CP-SAT) and PuLP (CBC, HiGHS)."""
