"""Every bad-input file under tests/data/ makes `router validate` and `router solve -o` exit 2
with a message naming the file, the place and the problem; no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.cli import main
from tests.conftest import DATA

# file -> every (path, message fragment) the message must give; path "" = the whole file
EXPECTED: dict[str, list[tuple[str, str]]] = {
    # not an instance at all
    "bad_not_yaml.yaml": [("", "not valid YAML: did not find expected ',' or ']' at line 2")],
    "bad_not_json.json": [("", "not valid JSON: Expecting value at line 1 column 1")],
    "bad_empty.yaml": [("", "file is empty")],
    "bad_empty.json": [("", "file is empty")],
    "bad_comment_only.yaml": [("", "file is empty")],
    "bad_truncated.json": [("", "not valid JSON: Unterminated string starting at line")],
    "bad_truncated.yaml": [("", "not valid YAML: did not find expected ',' or '}'")],
    "bad_binary.json": [("", "binary data, not a text instance file")],
    "bad_not_utf8.yaml": [("", "not UTF-8 text (byte 36)")],
    "bad_scalar.yaml": [("", "an instance must be a mapping at the top level, not a string")],
    "bad_list.json": [("", "an instance must be a mapping at the top level, not a list")],
    "bad_multi_document.yaml": [("", "not valid YAML: but found another document at line 22")],
    "bad_unhashable_key.yaml": [("", "not valid YAML: found unhashable key")],
    "bad_extension.txt": [("", "cannot tell the format from the extension")],
    "bad_python_tag.yaml": [("", "not valid YAML: could not determine a constructor for the tag "
                                 "'tag:yaml.org,2002:python/object/apply:os.system'")],
    # numbers
    "bad_nan.json": [("", "not valid JSON: NaN is not a finite number")],
    "bad_infinity.json": [("", "not valid JSON: Infinity is not a finite number")],
    "bad_overflow_float.json": [("unfilled_penalty", "must be a finite number")],
    "bad_huge_int.json": [("orders[0].lat", "must be a finite number (too large)")],
    "bad_inf.yaml": [("unfilled_penalty", "must be a finite number")],
    "bad_nan.yaml": [("skus[0].weight_kg", "must be a finite number")],
    "bad_qty_too_large.yaml": [("orders[0].lines[0].qty", "must be at most 9007199254740991")],
    # types and keys
    "bad_wrong_type.yaml": [("orders[0].lines[1].qty",
                             "must be a positive integer, not a string")],
    "bad_bool_qty.json": [("orders[0].lines[1].qty", "must be a positive integer, not a boolean")],
    "bad_missing_key.yaml": [("unfilled_penalty", "required field is missing")],
    "bad_missing_zones.yaml": [("shipping.zones", "required field is missing")],
    "bad_unknown_field.yaml": [("nodes[0].colour", "unknown field")],
    "bad_unknown_top_field.yaml": [("priority", "unknown field")],
    "bad_format.yaml": [("format", "must be 'router/instance-v1', not 'router/instance-v2'")],
    "bad_date_name.yaml": [("name", "must be a non-empty string, not date")],
    "bad_empty_id.yaml": [("nodes[0].id", "must be a non-empty string")],
    "bad_kind.yaml": [("nodes[1].kind", "must be 'warehouse' or 'store', not 'depot'")],
    "bad_service.yaml": [("orders[0].service", "must be 'standard' or 'express', not 'overnight'")],
    "bad_inventory_list.yaml": [("nodes[1].inventory", "must be a mapping, not a list")],
    "bad_order_not_mapping.yaml": [("orders[0]", "must be a mapping, not a string")],
    # references and ids
    "bad_unknown_sku.yaml": [("orders[0].lines[1].sku", "unknown SKU 'Q'")],
    "bad_unknown_sku_inventory.yaml": [("nodes[1].inventory.Q", "unknown SKU 'Q'")],
    "bad_duplicate_id.yaml": [("nodes[1].id", "duplicate node id 'W' (first at nodes[0])")],
    "bad_duplicate_sku.yaml": [("skus[1].id", "duplicate SKU id 'A' (first at skus[0])"),
                               ("orders[0].lines[1].sku", "unknown SKU 'B'")],
    "bad_duplicate_order.yaml": [("orders[1].id",
                                  "duplicate order id 'O-1' (first at orders[0])")],
    # values
    "bad_negative_stock.yaml": [("nodes[0].inventory.A", "must be a non-negative integer")],
    "bad_negative_capacity.yaml": [("nodes[0].max_units", "must be a non-negative integer")],
    "bad_negative_safety_stock.yaml": [("nodes[1].safety_stock",
                                        "must be a non-negative integer")],
    "bad_negative_weight.yaml": [("skus[0].weight_kg", "must be non-negative")],
    "bad_negative_cost.yaml": [("shipping.zones[1].per_package", "must be non-negative")],
    "bad_fractional_stock.yaml": [("nodes[0].inventory.A", "must be a non-negative integer")],
    "bad_zones_order.yaml": [("shipping.zones[1].max_km",
                              "zones must be in strictly ascending max_km (40 follows 50)")],
    "bad_zones_empty.yaml": [("shipping.zones", "must not be empty")],
    "bad_lat.yaml": [("orders[0].lat", "must be in [-90, 90]")],
    "bad_lon.yaml": [("nodes[0].lon", "must be in [-180, 180]")],
    "bad_qty_zero.yaml": [("orders[0].lines[0].qty", "must be a positive integer")],
    "bad_qty_fraction.yaml": [("orders[0].lines[0].qty", "must be a positive integer")],
    "bad_no_lines.yaml": [("orders[0].lines", "an order must have at least one line")],
    "bad_order_max_packages_zero.yaml": [("orders[0].max_packages", "must be a positive integer")],
    "bad_many_problems.yaml": [("format", "must be 'router/instance-v1', not 'v0'"),
                               ("skus[1].weight_kg", "must be non-negative"),
                               ("nodes[0].lat", "must be in [-90, 90]"),
                               ("orders[0].lines[0].qty", "must be a positive integer")],
    # OR-Library GAP files (read with --format gap)
    "bad_gap_truncated.gap": [("", "expected 16 integers for m=2 agents and n=3 jobs, found 13")],
    "bad_gap_extra.gap": [("", "expected 7 integers for m=1 agents and n=2 jobs, found 8")],
    "bad_gap_text.gap": [("token 7", "expected an integer, found 'five'")],
    "bad_gap_float.gap": [("token 3", "expected an integer, found '1.5'")],
    "bad_gap_header.gap": [("header", "agents and jobs must be positive, got m=0 n=3")],
    "bad_gap_negative.gap": [("resource[1][2]", "must be non-negative")],
    "bad_gap_negative_capacity.gap": [("capacity[1]", "must be non-negative")],
    "bad_gap_empty.gap": [("", "file is empty")],
    "bad_gap_huge.gap": [("token 7", "integer out of range")],
    "bad_gap_binary.gap": [("", "binary data")],
}


def test_every_bad_file_has_an_expectation() -> None:
    on_disk = {p.name for p in DATA.glob("bad_*")}
    assert on_disk == set(EXPECTED)


def _args(name: str) -> list[str]:
    return ["--format", "gap"] if name.endswith(".gap") else []


@pytest.mark.parametrize("command", ["validate", "solve"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_input(name: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a YAML tag that ran a command would leave a file here
    path = str(DATA / name)
    out = tmp_path / "out.json"
    argv = [command, path, *_args(name)]
    if command == "solve":
        argv += ["-o", str(out)]
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    lines = cap.err.splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines)
    for where, fragment in EXPECTED[name]:
        prefix = f"{path}: {where}: " if where else f"{path}: "
        assert any(line.startswith(prefix) and fragment in line for line in lines), cap.err
    assert cap.out == ""
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing executed
