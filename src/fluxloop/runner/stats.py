"""Streaming statistics of an experiment, in bounded memory.

Latency percentiles are exact up to :data:`RESERVOIR_SIZE` successful runs (per persona:
:data:`PERSONA_RESERVOIR_SIZE`) and come from a uniform reservoir sample beyond that, so
memory stays flat however many runs there are.
"""

from __future__ import annotations

import math
import random
from array import array
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fluxloop._stats import percentile

__all__ = [
    "PERSONA_RESERVOIR_SIZE",
    "RESERVOIR_SIZE",
    "LatencyStats",
    "RunStats",
]

RESERVOIR_SIZE = 10_000
PERSONA_RESERVOIR_SIZE = 2_000


def _ms(value: float | None) -> float:
    """A duration for ``summary.json``, whose schema documents 0 when no run succeeded."""
    return 0.0 if value is None else round(value, 3)


@dataclass
class LatencyStats:
    count: int = 0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = 0.0
    capacity: int = RESERVOIR_SIZE
    sample: array[float] = field(default_factory=lambda: array("d"))
    _rng: random.Random = field(default_factory=lambda: random.Random(0x5EED), repr=False)

    def add(self, value: float) -> None:
        self.count += 1
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        if len(self.sample) < self.capacity:
            self.sample.append(value)
        else:
            j = self._rng.randrange(self.count)
            if j < self.capacity:
                self.sample[j] = value

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.sample)
        return {
            "count": self.count,
            "mean": round(self.mean, 3),
            "min": round(self.minimum, 3) if self.count else 0.0,
            "max": round(self.maximum, 3),
            "p50": _ms(percentile(ordered, 50, is_sorted=True)),
            "p90": _ms(percentile(ordered, 90, is_sorted=True)),
            "p95": _ms(percentile(ordered, 95, is_sorted=True)),
            "p99": _ms(percentile(ordered, 99, is_sorted=True)),
            "exact": self.count <= self.capacity,
        }


@dataclass
class _Group:
    total: int = 0
    successful: int = 0
    failed: int = 0
    timed_out: int = 0
    latency: LatencyStats = field(default_factory=LatencyStats)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def add(self, line: Mapping[str, Any]) -> None:
        self.total += 1
        if line.get("success"):
            self.successful += 1
            duration = line.get("duration_ms")
            if isinstance(duration, (int, float)):
                self.latency.add(float(duration))
        else:
            self.failed += 1
            if line.get("status") == "timeout":
                self.timed_out += 1
        usage = line.get("token_usage")
        if isinstance(usage, Mapping):
            self.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.completion_tokens += int(usage.get("completion_tokens") or 0)
            self.total_tokens += int(usage.get("total_tokens") or 0)

    def results(self) -> dict[str, Any]:
        return {
            "total_runs": self.total,
            "successful": self.successful,
            "failed": self.failed,
            "timed_out": self.timed_out,
            "success_rate": round(self.successful / self.total, 6) if self.total else 0.0,
            "avg_duration_ms": round(self.latency.mean, 3),
        }


@dataclass
class RunStats:
    """Aggregates trace_summary lines as they are written."""

    overall: _Group = field(default_factory=_Group)
    personas: dict[str, _Group] = field(default_factory=dict)
    error_types: Counter[str] = field(default_factory=Counter)
    retried_runs: int = 0
    total_attempts: int = 0

    def add(self, line: Mapping[str, Any]) -> None:
        self.overall.add(line)
        persona = line.get("persona")
        key = str(persona) if persona is not None else "(none)"
        group = self.personas.get(key)
        if group is None:
            group = self.personas[key] = _Group(
                latency=LatencyStats(capacity=PERSONA_RESERVOIR_SIZE)
            )
        group.add(line)
        attempts = int(line.get("attempts") or 1)
        self.total_attempts += attempts
        if attempts > 1:
            self.retried_runs += 1
        if not line.get("success"):
            error = line.get("error")
            etype = error.get("type") if isinstance(error, Mapping) else None
            self.error_types[str(etype or "Error")] += 1

    @property
    def total(self) -> int:
        return self.overall.total

    @property
    def failed(self) -> int:
        return self.overall.failed

    @property
    def successful(self) -> int:
        return self.overall.successful

    def latency(self) -> dict[str, Any]:
        return self.overall.latency.summary()

    def tokens(self) -> dict[str, int]:
        g = self.overall
        return {
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
            "total_tokens": g.total_tokens,
        }

    def per_persona(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, group in sorted(self.personas.items()):
            entry = group.results()
            lat = group.latency.summary()
            entry.update({"p50_duration_ms": lat["p50"], "p95_duration_ms": lat["p95"]})
            entry["total_tokens"] = group.total_tokens
            out[name] = entry
        return out
