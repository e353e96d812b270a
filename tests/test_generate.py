"""The sale-day generator: valid, repeatable to the byte, and realistic in every preset."""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import router
from router.cli import main
from router.compile import Problem, compile_problem
from router.errors import InputError
from router.generate import (
    EXPRESS_MAX_KM,
    PRESETS,
    ZONES,
    _spread_km,
    cities,
    generate,
    generate_data,
)
from router.geo import haversine_km
from router.instance import Instance
from router.io.write import dumps, write

# xs and s for real; the larger presets with their own settings but fewer orders
CASES = {"xs": {}, "s": {}, "m": {"orders": 800}, "l": {"orders": 800}, "xl": {"orders": 800}}


@functools.cache
def _case(preset: str, seed: int = 7) -> tuple[Instance, Problem]:
    inst = generate(preset, seed, **CASES[preset])
    return inst, compile_problem(inst)


def _available(inst: Instance) -> dict[str, int]:
    """Units of each SKU the network may ship (safety stock and store eligibility applied)."""
    eligible = {s.id: s.store_eligible for s in inst.skus}
    out: Counter[str] = Counter()
    for n in inst.nodes:
        for sku in n.inventory:
            if n.kind == "store" and not eligible[sku]:
                continue
            out[sku] += n.available(sku)
    return dict(out)


def _demand(inst: Instance) -> Counter[str]:
    d: Counter[str] = Counter()
    for o in inst.orders:
        for ln in o.lines:
            d[ln.sku] += ln.qty
    return d


def _over_capacity(inst: Instance, prob: Problem) -> list[str]:
    """Nodes that would exceed their package cap if every line went to its cheapest source."""
    cost = prob.arc_cost[prob.e_arc] + prob.e_unit_cost
    wanted: set[tuple[int, int]] = set()
    for line in range(prob.n_lines):
        a, b = prob.line_e_ptr[line], prob.line_e_ptr[line + 1]
        if b > a:
            e = a + int(np.argmin(cost[a:b]))
            wanted.add((int(prob.line_order[line]), int(prob.arc_node[prob.e_arc[e]])))
    packages = Counter(n for _, n in wanted)
    return [inst.nodes[n].id for n, k in packages.items() if k > (inst.nodes[n].max_packages or k)]


# ---- sizes and validity -----------------------------------------------------------------------


@pytest.mark.parametrize("preset", ["xs", "s"])
def test_small_presets_have_their_size_and_round_trip(preset: str) -> None:
    inst, _ = _case(preset)
    p = PRESETS[preset]
    assert len(inst.orders) == p.orders
    assert len(inst.nodes) == p.warehouses + p.stores
    assert len(inst.skus) == p.skus
    assert Counter(n.kind for n in inst.nodes) == {"warehouse": p.warehouses, "store": p.stores}
    # the written text validates to the same instance, in both formats
    assert router.parse_json(dumps(inst, "json")) == inst
    assert router.parse_yaml(dumps(inst, "yaml")) == inst


def test_preset_sizes_grow_to_the_peak() -> None:
    orders = [PRESETS[k].orders for k in ("xs", "s", "m", "l", "xl")]
    nodes = [PRESETS[k].warehouses + PRESETS[k].stores for k in ("xs", "s", "m", "l", "xl")]
    assert orders == [50, 500, 2_000, 20_000, 200_000]
    assert nodes == sorted(nodes) and nodes[-1] == 3_000


def test_knobs_are_applied() -> None:
    inst = generate("xs", 1, orders=30, warehouses=2, stores=5, skus=25, name="tiny")
    assert (len(inst.orders), len(inst.nodes), len(inst.skus), inst.name) == (30, 7, 25, "tiny")
    assert not any(o.service == "express" for o in generate("s", 1, express_share=0.0).orders)
    many = generate("s", 1, express_share=0.3)
    share = sum(o.service == "express" for o in many.orders) / len(many.orders)
    assert 0.22 < share < 0.38
    assert not any(n.kind == "store" for n in generate("xs", 1, stores=0).nodes)
    loose, tight = generate("s", 1), generate("s", 1, tightness=2.0)
    cap = [sum(n.max_packages or 0 for n in i.nodes) for i in (loose, tight)]
    assert cap[1] < 0.6 * cap[0]
    roomy = generate("s", 1, tightness=0.05)
    assert _over_capacity(tight, compile_problem(tight))
    assert not _over_capacity(roomy, compile_problem(roomy))


def test_bad_knobs_are_input_errors() -> None:
    with pytest.raises(InputError) as e:
        generate_data("s", 0, orders=0, scarcity=1.5, tightness=0.0)
    assert {p for p, _ in e.value.problems} == {"orders", "scarcity", "tightness"}
    with pytest.raises(InputError):
        generate_data("huge", 0)
    with pytest.raises(InputError):
        generate_data("s", -1)
    with pytest.raises(InputError):
        generate_data("s", 0, colour="red")


# ---- the same seed, the same bytes -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_same_seed_same_bytes(fmt: str) -> None:
    a = dumps(generate_data("s", 11, skus=300), fmt)
    b = dumps(generate_data("s", 11, skus=300), fmt)
    c = dumps(generate_data("s", 12, skus=300), fmt)
    assert a == b
    assert a != c


def test_cli_writes_the_same_bytes_as_the_library(tmp_path: Path) -> None:
    for name in ("a.json", "a.yaml"):
        out = tmp_path / name
        assert main(["generate", "--preset", "xs", "--seed", "4", "--express-share", "0.3",
                     "-o", str(out)]) == 0
        fmt = "json" if name.endswith("json") else "yaml"
        assert out.read_text(encoding="utf-8") == dumps(
            generate_data("xs", 4, express_share=0.3), fmt)
        assert router.load(out) == generate("xs", 4, express_share=0.3)
    again = tmp_path / "b.json"
    assert main(["generate", "--preset", "xs", "--seed", "4", "--express-share", "0.3",
                 "-o", str(again)]) == 0
    assert again.read_bytes() == (tmp_path / "a.json").read_bytes()


def test_cli_bad_input_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--preset", "xs", "-o", str(tmp_path / "a.txt")]) == 2
    assert main(["generate", "--preset", "xs", "--orders", "0", "-o",
                 str(tmp_path / "a.json")]) == 2
    assert "orders" in capsys.readouterr().err
    assert not (tmp_path / "a.txt").exists() and not (tmp_path / "a.json").exists()


def test_write_picks_the_format_by_extension(tmp_path: Path) -> None:
    data = generate_data("xs", 2)
    assert write(data, tmp_path / "x.yml") == len(dumps(data, "yaml").encode())
    assert (tmp_path / "x.yml").read_text().startswith("format: router/instance-v1\n")
    with pytest.raises(InputError):
        write(data, tmp_path / "x.csv")


# ---- the features of a sale day, in every preset -----------------------------------------------


@pytest.mark.parametrize("preset", list(CASES))
def test_every_preset_has_the_sale_day_features(preset: str) -> None:
    inst, prob = _case(preset)
    sku = {s.id: s for s in inst.skus}
    stores = [n for n in inst.nodes if n.kind == "store"]
    warehouses = [n for n in inst.nodes if n.kind == "warehouse"]
    # bulky SKUs that stores may not ship, and no store stocks them
    bulky = {s.id for s in inst.skus if not s.store_eligible}
    assert bulky and all(sku[s].weight_kg >= 15 for s in bulky)
    assert all(s.weight_kg < 15 for s in inst.skus if s.store_eligible)
    assert not any(set(n.inventory) & bulky for n in stores)
    # express orders, and every one of them has a warehouse within reach
    assert any(o.service == "express" for o in inst.orders)
    # baskets: most orders single-line, some multi-line (at most 5 lines); quantities mostly 1
    sizes = Counter(len(o.lines) for o in inst.orders)
    assert sizes[1] > 0.5 * len(inst.orders) and sum(v for k, v in sizes.items() if k > 1) > 0
    assert max(sizes) <= 5
    qty = [ln.qty for o in inst.orders for ln in o.lines]
    assert sum(q == 1 for q in qty) > 0.75 * len(qty)
    # ship-complete orders and the default limit
    assert inst.default_max_packages == 3 and any(o.max_packages == 1 for o in inst.orders)
    # safety stock that holds units back at stores
    assert any(n.safety_stock > 0 and any(0 < q <= n.safety_stock for q in n.inventory.values())
               for n in stores)
    # stores serve locally, hold few SKUs, shallow; warehouses hold broad ranges, deep
    assert all(s.service_radius_km is not None and 30 <= s.service_radius_km <= 80
               for s in stores)
    assert all(w.service_radius_km is None for w in warehouses)
    mean_st = np.mean([len(n.inventory) for n in stores])
    mean_wh = np.mean([len(n.inventory) for n in warehouses])
    assert mean_st < mean_wh
    assert max(q for n in stores for q in n.inventory.values()) <= 8
    # every node is capped, stores small, warehouses large
    assert all(n.max_packages is not None and n.max_units is not None for n in inst.nodes)
    assert max(n.max_packages or 0 for n in stores) < max(n.max_packages or 0 for n in warehouses)
    # some node is near saturation: if every line went to its cheapest source, some node would
    # get more packages than it may send in this batch
    assert _over_capacity(inst, prob)
    # scarcity asked for (default 3 %): some SKU is short overall, so demand goes unfilled
    avail, demand = _available(inst), _demand(inst)
    short = {s for s, d in demand.items() if avail.get(s, 0) < d}
    assert short
    # stores take part: some line has a store among its candidates (not always so in a batch
    # as small as xs: 50 customers and 12 stores in a country of 392 cities)
    is_store = np.array([n.kind == "store" for n in inst.nodes])
    assert preset == "xs" or is_store[prob.arc_node[prob.e_arc]].any()


@pytest.mark.parametrize("preset", list(CASES))
def test_candidates_per_line_stay_bounded(preset: str) -> None:
    inst, prob = _case(preset)
    per_line = np.diff(prob.line_e_ptr)
    n_wh = PRESETS[preset].warehouses
    # a line reaches its SKU's warehouses (a popular SKU sits in about a dozen at most) plus
    # the few stores around the customer that carry it
    assert per_line.mean() <= min(n_wh, 14)
    assert per_line.max() <= min(n_wh, 24) + 12


def test_no_scarcity_means_enough_stock_overall() -> None:
    inst = generate("s", 3, scarcity=0.0)
    avail, demand = _available(inst), _demand(inst)
    assert all(avail.get(s, 0) >= d for s, d in demand.items())
    more = generate("s", 3, scarcity=0.2)
    avail, demand = _available(more), _demand(more)
    shortfall = sum(max(0, d - avail.get(s, 0)) for s, d in demand.items())
    assert 0.15 * sum(demand.values()) <= shortfall <= 0.3 * sum(demand.values())


def test_express_orders_have_a_warehouse_in_reach() -> None:
    inst, _ = _case("s")
    wh = [n for n in inst.nodes if n.kind == "warehouse"]
    lat = np.array([n.lat for n in wh])
    lon = np.array([n.lon for n in wh])
    for o in inst.orders:
        if o.service != "express":
            continue
        km = haversine_km(lat, lon, np.full(len(wh), o.lat), np.full(len(wh), o.lon))
        for ln in o.lines:
            assert any(k <= EXPRESS_MAX_KM and n.inventory.get(ln.sku, 0) > 0
                       for k, n in zip(km, wh, strict=True))


def test_last_zone_covers_every_mainland_pair() -> None:
    c = cities()
    d = haversine_km(c.lat[:, None], c.lon[:, None], c.lat[None, :], c.lon[None, :])
    spread = 3.0 * float(_spread_km(c.population.astype(float)).max()) + 35.0
    assert d.max() + 2 * spread < ZONES[-1][0]
    assert [z[0] for z in ZONES] == sorted(z[0] for z in ZONES)
    inst, prob = _case("s")
    # so every warehouse can reach every customer: only express and stock prune warehouse arcs
    assert prob.arc_km.max() < ZONES[-1][0]


def test_customers_follow_population() -> None:
    inst, _ = _case("s")
    c = cities()
    lat, lon = np.array([o.lat for o in inst.orders]), np.array([o.lon for o in inst.orders])
    big = haversine_km(lat, lon, np.full(len(lat), c.lat[0]), np.full(len(lat), c.lon[0]))
    share = float((big < 60).mean())  # Shanghai holds 4.2 % of the population of the table
    assert 0.02 < share < 0.08


# ---- the plans on generated batches -------------------------------------------------------------


@pytest.mark.parametrize("preset", ["xs", "s"])
def test_default_solver_plans_verify(preset: str) -> None:
    inst, prob = _case(preset)
    plan = router.solve(inst, problem=prob, time_limit=20.0)
    assert plan.has_plan
    report = router.verify(inst, plan)
    assert report.ok
    assert plan.objective == pytest.approx(report.cost.total)
    # the scarce SKUs leave units unfilled in any plan
    avail, demand = _available(inst), _demand(inst)
    must = sum(max(0, d - avail.get(s, 0)) for s, d in demand.items())
    assert sum(u.qty for u in plan.unfilled) >= must > 0


@pytest.mark.parametrize("file,preset", [("xs.yaml", "xs"), ("s.yaml", "s"), ("m.yaml", "m"),
                                         ("l.json", "l")])
def test_shipped_batches_are_what_their_commands_make(file: str, preset: str) -> None:
    """instances/README.md lists `router generate --preset P --seed 1 -o instances/FILE`."""
    path = Path(__file__).resolve().parent.parent / "instances" / file
    if not path.exists():
        pytest.skip(f"{file} not shipped")
    fmt = "json" if file.endswith(".json") else "yaml"
    assert path.read_text(encoding="utf-8") == dumps(generate_data(preset, 1), fmt)
