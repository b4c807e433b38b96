"""Realistic, varied, deterministic log content for the simulator.

`line(i)` is a pure function of (seed, flavor, i): the simulator can replay
any record after a reconnect, and tests can compute what it sent.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

RED, YELLOW, GREEN, CYAN, DIM, RESET = "\x1b[31m", "\x1b[33m", "\x1b[32m", "\x1b[36m", "\x1b[2m", "\x1b[0m"

TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "/app/handler.py", line 88, in handler\n'
    "    images = pipe(prompt, num_inference_steps=steps).images\n"
    '  File "/usr/lib/python3.11/site-packages/diffusers/pipelines/pipeline_utils.py", line 1012, in __call__\n'
    "    latents = self.unet(latents, t, encoder_hidden_states=emb).sample\n"
    "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB "
    "(GPU 0; 23.65 GiB total capacity; 20.91 GiB already allocated)"
)


@dataclass(frozen=True, slots=True)
class GenLine:
    level: str
    text: str
    """May contain ANSI colours and, for tracebacks, newlines."""


def _gpu(r: random.Random) -> GenLine:
    used = r.uniform(6, 23)
    return GenLine(
        "INFO", f"GPU 0: {used:.1f} GiB / 24.0 GiB used, util {r.randint(40, 100)}%, temp {r.randint(45, 83)}C"
    )


def _request(r: random.Random, i: int) -> GenLine:
    method = r.choice(["POST", "POST", "GET"])
    path = r.choice(["/run", "/runsync", "/health", "/v1/generate", "/v1/embeddings"])
    code = r.choices([200, 200, 200, 201, 400, 429, 500], k=1)[0]
    ms = r.randint(8, 4200)
    colour = GREEN if code < 400 else (YELLOW if code < 500 else RED)
    lvl = "INFO" if code < 400 else ("WARN" if code < 500 else "ERROR")
    return GenLine(lvl, f"{method} {path} {colour}{code}{RESET} {ms}ms req_id=req_{i:06d}")


def _json(r: random.Random, i: int) -> GenLine:
    lvl = r.choice(["info", "info", "debug", "warning"])
    doc = {
        "level": lvl,
        "msg": r.choice(["job accepted", "batch flushed", "cache miss", "retrying upload"]),
        "job": f"job_{i % 97:03d}",
        "attempt": r.randint(1, 3),
        "latency_ms": round(r.uniform(1, 900), 1),
    }
    return GenLine(lvl.upper(), json.dumps(doc))


_PLAIN = [
    ("INFO", "Loading model weights from /models/sdxl-base-1.0 ..."),
    ("INFO", "Model loaded in {f:.1f}s"),
    ("INFO", "Warmup inference finished in {f:.2f}s"),
    ("DEBUG", "scheduler step {n}/50 t={f:.3f}"),
    ("INFO", "Processing request with prompt length {n}"),
    ("WARN", "Queue depth {n} above soft limit 32"),
    ("WARN", "Slow request: {f:.1f}s spent in preprocessing"),
    ("INFO", "Uploaded result to s3://outputs/{n}.png"),
    ("DEBUG", "cache hit ratio {f:.2f}"),
    ("ERROR", "Upload failed: connection reset by peer (attempt {n})"),
    ("INFO", "Worker heartbeat ok, {n} jobs in flight"),
]


class ContentGenerator:
    """Deterministic content: `line(i)` depends only on the seed, flavor and i."""

    def __init__(self, seed: int, flavor: str = "worker") -> None:
        self.seed = seed
        self.flavor = flavor

    def line(self, i: int) -> GenLine:
        r = random.Random(f"{self.seed}:{self.flavor}:{i}")
        roll = r.random()
        if roll < 0.015:
            return GenLine("ERROR", TRACEBACK)
        if roll < 0.10:
            return _gpu(r)
        if roll < 0.30:
            return _request(r, i)
        if roll < 0.42:
            return _json(r, i)
        lvl, tmpl = _PLAIN[r.randrange(len(_PLAIN))]
        text = tmpl.format(n=r.randint(1, 500), f=r.uniform(0.1, 30))
        if lvl == "ERROR":
            text = f"{RED}{text}{RESET}"
        elif lvl == "WARN" and r.random() < 0.5:
            text = f"{YELLOW}{text}{RESET}"
        return GenLine(lvl, text)
