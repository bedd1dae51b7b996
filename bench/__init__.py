"""Benchmarks the project runs itself (`make bench` → BENCHMARKS.md and results.json)."""
