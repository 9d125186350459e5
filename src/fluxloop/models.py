"""Data models of observations and traces (``fluxloop.models``).

These mirror the original FluxLoop SDK's models so that code written against it (for example
the manual "Pattern A" integration) keeps working; in this SDK they are views over real
OpenTelemetry spans rather than a parallel storage format.
"""

from __future__ import annotations

from fluxloop.sdk import ObservationData, ObservationLevel, ObservationType, TraceData

__all__ = ["ObservationData", "ObservationLevel", "ObservationType", "TraceData"]
