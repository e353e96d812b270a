"""Heuristics: the vectorised bidding engine (``core``), ``greedy``, ``regret``, the industry
rules ``nearest`` and ``fewest-splits``, local search and its exact moves (min-cost flow for
single-unit orders, shift/swap for assignment batches)."""
