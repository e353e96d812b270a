"""The limits on what `router` reads: file size, YAML alias expansion, integer and cost
magnitudes. They make every input either readable within bounded time and memory or bad input
with a short message, and every sum the solvers and the verifier form finite and exact
(docs/reference.md, "Limits"). Nothing here imports the rest of the package."""

from __future__ import annotations

MAX_INT = 2**53 - 1
"""Largest integer accepted anywhere (a quantity, stock, capacity, GAP number): exact in
float64, safe in int64 arrays. The total units ordered in a batch (line quantities added, merged
lines included) and each agent's total resource and the costs of a GAP file keep to it too, so
every sum of them is exact."""

MAX_COST = 1e12
"""Largest cost, weight or penalty accepted (per package, per kg, per unit, weight in kg, unfilled
penalty). With at most ``MAX_INT`` units, the total cost of any plan stays below 1e41: finite,
and far from the float64 range even when solvers square or add such totals."""

MAX_FILE_BYTES = 256 * 2**20
"""Largest instance or plan file read (256 MiB, about two million orders): a larger file, or an
endless one such as /dev/zero, is bad input, found without reading it all."""

MAX_ALIAS_NODES = 1_000_000
"""YAML anchors and aliases are read while expanding them adds at most this many values (keys,
scalars, lists, mappings) to the document; beyond that (an alias bomb) the file is bad input."""

MAX_DIGITS = 4300
"""Longest decimal integer literal read (Python's own limit for converting text to int)."""

MAX_STATS_DEPTH = 32
"""Deepest nesting accepted in a plan's ``stats`` (which is kept and written back as it is)."""
