"""Instance files: reading (text parsing kept apart from file reading) and writing."""

from router.io.read import format_of, load, loads, parse_gap, parse_json, parse_yaml, read_text
from router.io.write import dumps, format_for, write

__all__ = ["dumps", "format_for", "format_of", "load", "loads", "parse_gap", "parse_json",
           "parse_yaml", "read_text", "write"]
