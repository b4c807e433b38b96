"""Throughput, latency and memory benchmarks: `python -m benchmarks` (see README.md).

Not tests: nothing here asserts a timing. Every figure is measured next to
a baseline in the same run and reported both absolute and as a ratio.
"""

BENCHMARKS = (
    "ingest_sse",
    "ingest_text",
    "ingest_poll",
    "filter",
    "memory",
    "open_file",
    "ui_filter",
    "ui_keypress",
    "startup",
)
"""Run order; each is a module here with `run(quick: bool) -> list[Figure]`."""
