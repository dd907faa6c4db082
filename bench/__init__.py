"""Benchmarks: ``python -m bench.api`` measures the API against a bare Starlette baseline."""
