"""The FluxLoop SDK: decorators, context, configuration and per-run capture.

The public names are re-exported by :mod:`fluxloop`; this package also exposes
:func:`capture_run` for the experiment runner and the pytest plugin.
"""

from __future__ import annotations

from fluxloop.sdk._capture import RunCapture, capture_run

__all__ = ["RunCapture", "capture_run"]
