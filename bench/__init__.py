"""Benchmarks: one command each, a printed table, results in docs/benchmarks.md."""
