"""Every line the ``fluxloop`` command prints goes through the SDK's masking rules.

:func:`masked_stdio` replaces ``sys.stdout`` and ``sys.stderr`` for the life of the command with
thin wrappers that mask each ``write`` (:func:`fluxloop.sdk.masking.mask_string`), so results,
progress, warnings, log records, error messages and ``--debug`` tracebacks are all covered,
whichever library prints them (click, rich, logging, the user's agent). The one exception is
output the user asked for unmasked (``config env --show-values``): :func:`unmasked`.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from fluxloop.sdk.masking import mask_string

__all__ = ["MaskedStream", "masked_stdio", "unmasked"]


class MaskedStream:
    """A text stream that masks what is written and delegates everything else."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner
        self.masking = True

    def write(self, text: str) -> int:
        if type(text) is str and self.masking:
            self._inner.write(mask_string(text))
        else:  # let the real stream raise its own TypeError
            self._inner.write(text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@contextlib.contextmanager
def masked_stdio() -> Iterator[None]:
    """Mask ``sys.stdout`` and ``sys.stderr`` inside the block (restored afterwards)."""
    saved = sys.stdout, sys.stderr
    if sys.stdout is not None and not isinstance(sys.stdout, MaskedStream):
        sys.stdout = MaskedStream(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, MaskedStream):
        sys.stderr = MaskedStream(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


@contextlib.contextmanager
def unmasked() -> Iterator[None]:
    """Print unmasked inside the block: only for what the user explicitly asked to see."""
    stream = sys.stdout
    if not isinstance(stream, MaskedStream):
        yield
        return
    stream.masking = False
    try:
        yield
    finally:
        stream.masking = True
