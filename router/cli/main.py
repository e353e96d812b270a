"""The command line: a thin layer over the library (SPEC section 5).

Exit codes: 0 success; 1 no plan (infeasible, no solution) or a plan that fails verification;
2 bad input or usage. Bad input never shows a traceback and writes nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from router.errors import InputError, RouterError, SolverUnavailable

EXIT_OK, EXIT_NO_PLAN, EXIT_BAD_INPUT = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors: exit 2 with the usage line
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_INPUT)


def _add_format(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("yaml", "json", "gap"),
                   help="instance format (default: from the extension)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="router", description="Route e-commerce order batches to fulfilment "
                                                "nodes (warehouses and stores).")
    parser.add_argument("--version", action="version", version="router 0.1.0")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("solve", help="route a batch and write its plan")
    p.add_argument("file")
    _add_format(p)
    p.add_argument("--solver", default="auto", help="solver name (see `router solvers`)")
    p.add_argument("--time-limit", type=float, default=None, metavar="S",
                   help="wall-clock seconds for the whole solve, compilation included")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mip-gap", type=float, default=1e-4, help="relative MIP gap (default 1e-4)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-o", "--output", metavar="PLAN", help="plan file (default: stdout)")

    p = sub.add_parser("validate", help="check an instance file")
    p.add_argument("file")
    _add_format(p)

    p = sub.add_parser("verify", help="check a plan against its instance")
    p.add_argument("file")
    p.add_argument("plan")
    _add_format(p)

    sub.add_parser("solvers", help="list the solvers available here")
    for extend in _EXTENSIONS:
        extend(sub)
    return parser


_EXTENSIONS: list[Any] = []  # commands that live in their own modules add themselves here


def _summary(plan: Any) -> str:
    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.4f}"

    gap = plan.gap
    gap_s = "-" if gap is None else f"{100 * gap:.3f}%"
    secs = plan.stats.get("seconds", 0.0)
    extra = f"  fallback={plan.stats['fallback']}" if "fallback" in plan.stats else ""
    return (f"solver={plan.solver} status={plan.status} objective={f(plan.objective)} "
            f"bound={f(plan.lower_bound)} gap={gap_s} seconds={secs:.3f} "
            f"shipments={len(plan.shipments)} unfilled_units={sum(u.qty for u in plan.unfilled)}"
            f"{extra}")


def cmd_solve(args: argparse.Namespace) -> int:
    import router

    instance = router.load(args.file, format=args.format)
    plan = router.solve(instance, solver=args.solver, time_limit=args.time_limit,
                        seed=args.seed, mip_gap=args.mip_gap, threads=args.threads)
    text = plan.to_json() + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as e:
            raise InputError([("", f"cannot write the plan: {e.strerror or e}")],
                             args.output) from None
    else:
        sys.stdout.write(text)
    print(_summary(plan), file=sys.stderr)
    return EXIT_OK if plan.has_plan else EXIT_NO_PLAN


def cmd_validate(args: argparse.Namespace) -> int:
    import router
    from router.instance import GapInstance

    inst = router.load(args.file, format=args.format)
    if isinstance(inst, GapInstance):
        print(f"{args.file}: valid GAP instance: {inst.n_agents} agents, {inst.n_jobs} jobs")
    else:
        n_lines = sum(len(o.lines) for o in inst.orders)
        print(f"{args.file}: valid: {len(inst.orders)} orders, {n_lines} lines, "
              f"{len(inst.nodes)} nodes, {len(inst.skus)} SKUs")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import router

    inst = router.load(args.file, format=args.format)
    plan = router.Plan.read(args.plan)
    report = router.verify(inst, plan, raise_on_error=False)
    print(f"{args.plan}: {report}")
    return EXIT_OK if report.ok else EXIT_NO_PLAN


def cmd_solvers(args: argparse.Namespace) -> int:
    from router.solvers.registry import registry

    for name, info in sorted(registry().items()):
        why = info.available()
        state = "available" if why is None else f"unavailable ({why})"
        print(f"{name:16s} {info.kind:10s} {state:12s} {info.description}")
    return EXIT_OK


COMMANDS = {"solve": cmd_solve, "validate": cmd_validate, "verify": cmd_verify,
            "solvers": cmd_solvers}


def main(argv: Sequence[str] | None = None) -> int:
    _load_extensions()
    args = build_parser().parse_args(argv)
    try:
        return int(COMMANDS[args.command](args))
    except InputError as e:
        print(e.format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except SolverUnavailable as e:
        print(f"router: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except RouterError as e:
        print(f"router: {e}", file=sys.stderr)
        return EXIT_NO_PLAN
    except BrokenPipeError:  # e.g. `router solve f.yaml | head`
        return EXIT_OK
    except KeyboardInterrupt:
        return 130


def _load_extensions() -> None:
    """Commands defined in other modules (generate, export, bench) register themselves."""
    import importlib

    for mod in ("router.cli.generate", "router.cli.export", "router.cli.bench",
                "router.cli.network", "router.cli.replay"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def register_command(add_parser: Any, name: str, func: Any) -> None:
    """Add a subcommand: ``add_parser(subparsers)`` builds it, ``func(args)`` runs it."""
    if name not in COMMANDS:
        _EXTENSIONS.append(add_parser)
        COMMANDS[name] = func



if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
