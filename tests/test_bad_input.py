"""Every bad-input file under tests/data/ makes `router validate`, `router solve -o` and
`router verify` exit 2 with a message naming the file, the place and the problem; no traceback,
nothing written. Bad plan files (``bad_plan_*``) do the same for `router verify`, and so do
inputs made by the test (/dev/zero, a file beyond the size limit)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from router.cli import main
from router.limits import MAX_FILE_BYTES
from tests.conftest import DATA, HAND

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
    "bad_binary.json": [("", "binary data, not a text file")],
    "bad_deep_nesting.json": [("", "not valid JSON: nested too deeply (1201 levels at line 3")],
    "bad_deep_nesting.yaml": [("", "not valid YAML: exceeded maximum nesting depth at line 22")],
    "bad_duplicate_key.json": [("nodes[0].lat", "duplicate key (given twice in one mapping)")],
    "bad_duplicate_key.yaml": [("", "not valid YAML: found duplicate key 'qty' at line 20 "
                                    "column 26")],
    "bad_alias_bomb.yaml": [("", "not valid YAML: aliases expand the document by more than "
                                 "1,000,000 values (an alias bomb) at line 10")],
    "bad_merge_bomb.yaml": [("", "not valid YAML: aliases expand the document by more than "
                                 "1,000,000 values (an alias bomb) at line 10")],
    "bad_recursive_alias.yaml": [("", "not valid YAML: recursive alias (a value that contains "
                                      "itself) at line 16 column 5")],
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
    "bad_long_int.json": [("", "not valid JSON: an integer with more than 4300 digits at "
                               "line 39 column 13")],
    "bad_long_int.yaml": [("", "not valid YAML: an integer with more than 4300 digits at "
                               "line 20 column 23")],
    "bad_cost_overflow.json": [("unfilled_penalty", "must be at most 1e+12")],
    "bad_cost_overflow.yaml": [("shipping.zones[0].per_package", "must be at most 1e+12")],
    "bad_merged_qty.yaml": [("orders[0].lines[2].qty", "the lines of SKU 'A' add up to more "
                                                       "than 9007199254740991 units")],
    "bad_total_units.yaml": [("orders", "the orders add up to 9007199254740992 units, more "
                                        "than the 9007199254740991 a batch may hold")],
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
    "bad_gap_above_2_53.gap": [("token 6", "integer out of range: '9007199254740993' (at most "
                                           "9007199254740991 in magnitude)")],
    "bad_gap_long_int.gap": [("token 7", "integer out of range: more than 4300 digits")],
    "bad_gap_sum.gap": [("resource[1]", "the resources of agent 1 add up to more than "
                                        "9007199254740991")],
    # plan files, checked by `router verify` against instances/hand/split.yaml
    "bad_plan_huge_qty.json": [("shipments[0].lines[0].qty", "must be at most 9007199254740991")],
    "bad_plan_long_int.json": [("", "not valid JSON: an integer with more than 4300 digits at "
                                    "line 6 column 15")],
    "bad_plan_deep_nesting.json": [("", "not valid JSON: nested too deeply (1202 levels")],
    "bad_plan_deep_stats.json": [("stats", "nested more than 32 levels deep")],
    "bad_plan_huge_stats.json": [("stats", "a figure is not a finite number")],
    "bad_plan_duplicate_key.json": [("shipments[0].node", "duplicate key")],
    "bad_plan_nan.json": [("", "not valid JSON: NaN is not a finite number")],
    "bad_plan_not_json.json": [("", "not valid JSON: Unterminated string starting at line 11")],
    # gzip-compressed instances (.gz)
    "bad_gzip_corrupt.json.gz": [("", "not a readable gzip file")],
}

# inputs made by the test: name -> (how to make it, expected); "plan" ones go to `verify`
HUGE = MAX_FILE_BYTES + 1
MADE: dict[str, list[tuple[str, str]]] = {
    "dev_zero.json": [("", "binary data, not a text file")],
    "huge.json": [("", f"file of {HUGE:,} bytes is larger than the limit of "
                       f"{MAX_FILE_BYTES:,} bytes")],
    "plan_dev_zero.json": [("", "binary data, not a text file")],
    "plan_huge.json": [("", f"file of {HUGE:,} bytes is larger than the limit")],
    "gzip_bomb.json.gz": [("", f"decompresses to more than the limit of {MAX_FILE_BYTES:,} "
                               "bytes")],
}


def test_every_bad_file_has_an_expectation() -> None:
    on_disk = {p.name for p in DATA.glob("bad_*")}
    assert on_disk == set(EXPECTED)


def test_the_good_plan_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    """The plan the bad instances are verified with is valid for its own instance."""
    assert main(["verify", str(HAND / "split.yaml"), str(GOOD_PLAN)]) == 0
    assert "plan is valid; cost 11.000000" in capsys.readouterr().out


def _is_plan(name: str) -> bool:
    return name.startswith(("bad_plan_", "plan_"))


CASES = [(name, command) for name in sorted(EXPECTED) + sorted(MADE)
         for command in (("verify",) if _is_plan(name) else ("validate", "solve", "verify"))]

GOOD_PLAN = DATA / "plan_split.json"  # a valid plan of instances/hand/split.yaml


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sparse file one byte beyond the size limit (no disk used), and links to /dev/zero."""
    d = tmp_path_factory.mktemp("made")
    for name in ("huge.json", "plan_huge.json"):
        with (d / name).open("wb") as f:
            f.truncate(HUGE)
    for name in ("dev_zero.json", "plan_dev_zero.json"):
        os.symlink("/dev/zero", d / name)
    # a gzip bomb: a few hundred kB that would decompress beyond the limit
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    block = b" " * (1 << 24)
    with (d / "gzip_bomb.json.gz").open("wb") as f:
        for _ in range(HUGE // len(block) + 1):
            f.write(z.compress(block))
        f.write(z.flush())
    return d


@pytest.mark.parametrize(("name", "command"), CASES)
def test_bad_input(name: str, command: str, made: Path, tmp_path: Path,
                   monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a YAML tag that ran a command would leave a file here
    path = str((DATA if name in EXPECTED else made) / name)
    out = tmp_path / "out.json"
    fmt = ["--format", "gap"] if name.endswith(".gap") else []
    if command == "verify":
        argv = (["verify", str(HAND / "split.yaml"), path] if _is_plan(name)
                else ["verify", path, str(GOOD_PLAN), *fmt])
    else:
        argv = [command, path, *fmt]
    if command == "solve":
        argv += ["-o", str(out)]
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    lines = cap.err.splitlines()
    assert lines and all(line.startswith(f"{path}: ") for line in lines)
    assert all(len(line) <= len(path) + 200 for line in lines)  # short, whatever the input
    for where, fragment in (EXPECTED | MADE)[name]:
        prefix = f"{path}: {where}: " if where else f"{path}: "
        assert any(line.startswith(prefix) and fragment in line for line in lines), cap.err
    assert cap.out == ""
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing executed
