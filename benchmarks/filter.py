"""Filtering a full store: the complete result of a query over 1,000,000 rows.

logview's time is compiling the query and `ViewSpec(query=...).select(store)`
(what the app runs in its worker), with `Query.filter` alone alongside.
The baseline is GNU grep counting the same rows in the same log written to
a file (`ts LEVEL source pod message`, one row per line, warm in the page
cache) with the flags that ask the same question: `-i` where the query's
smart case ignores case, `-E` for a regex, the level column for `level:`,
a pipeline for a combined query, in the C locale. grep only counts;
logview returns the ids. Match counts are shown side by side: they differ
only where colour codes sit inside the searched text (logview matches the
text without them).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import Figure, log, median
from benchmarks.corpus import build_store, write_log_file

QUERIES: tuple[tuple[str, str, str, str], ...] = (
    # (label, logview query, grep command with {f} for the file, what the grep is)
    ("word, smart case", "upload", "grep -c -i upload {f}", "grep -c -i"),
    ("word, exact case", "OutOfMemoryError", "grep -c OutOfMemoryError {f}", "grep -c"),
    (
        "regex",
        r"/(loaded|finished) in \d+\.\d+s/",
        "grep -c -i -E '(loaded|finished) in [0-9]+[.][0-9]+s' {f}",
        "grep -c -i -E",
    ),
    ("level:error", "level:error", "grep -c -E '^[^ ]+ (ERROR|FATAL) ' {f}", "grep -c -E on the level column"),
    (
        "combined",
        r'source:sdxl level:warn "queue depth" -/depth \d*7 /',
        "grep -E '^[^ ]+ (WARN|ERROR|FATAL) [^ ]*sdxl' {f} | grep -i 'queue depth' | grep -c -v -i -E 'depth [0-9]*7 '",
        "3 greps piped",
    ),
)
GREP_ENV = {**os.environ, "LC_ALL": "C"}
"""grep's fastest setting (the corpus is ASCII, so answers are the same as in
UTF-8); under C.UTF-8 the level-column regex took 4x longer here."""


def _grep(cmd: str) -> tuple[float, int]:
    start = time.perf_counter()
    out = subprocess.run(["bash", "-c", cmd], env=GREP_ENV, capture_output=True, text=True, timeout=120)
    elapsed = time.perf_counter() - start
    return elapsed, int(out.stdout.strip() or 0)


def run(quick: bool) -> list[Figure]:
    from logview.query import compile_query
    from logview.view import ViewSpec

    n = 200_000 if quick else 1_000_000
    reps = 3 if quick else 5
    log(f"filter: building a {n:,}-row store")
    store = build_store(n)
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="logview-bench-") as tmp:
        path = Path(tmp) / "corpus.log"
        size = write_log_file(store, path)
        log(f"filter: wrote {size / 2**20:,.0f} MiB for grep")
        for label, text, grep, grep_is in QUERIES:
            cmd = grep.format(f=path)
            _grep(cmd)  # page cache, binary cache
            ours: list[float] = []
            direct: list[float] = []
            base: list[float] = []
            found = counted = 0
            for _ in range(reps):
                t, counted = _grep(cmd)
                base.append(t)
                start = time.perf_counter()
                rows = ViewSpec(query=compile_query(text)).select(store)
                ours.append(time.perf_counter() - start)
                found = len(rows)
                q = compile_query(text)
                start = time.perf_counter()
                q.filter(store)
                direct.append(time.perf_counter() - start)
            log(f"filter {label}: logview {median(ours) * 1000:.0f} ms, grep {median(base) * 1000:.0f} ms")
            figures.append(
                Figure(
                    "filter",
                    f"{label}: `{text}`, {n:,} rows",
                    median(ours),
                    "s",
                    median(base),
                    f"{grep_is}, same rows as a file",
                    note=f"Query.filter {median(direct) * 1000:,.0f} ms; {found:,} matches (grep {counted:,})",
                    extra={
                        "select": ours,
                        "query_filter": direct,
                        "grep": base,
                        "matches": found,
                        "grep_matches": counted,
                        "grep_cmd": grep,
                        "file_bytes": size,
                    },
                )
            )
    return figures
