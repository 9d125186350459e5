"""FluxLoop semantic conventions: the ``gen_ai.*`` subset FluxLoop emits and its ``fluxloop.*``
attributes, generated from ``semconv/registry`` by ``semconv/generate.py``.

Import the submodules directly: ``fluxloop_semconv.attributes`` (attribute-name constants, enum
values, ``ALL_ATTRIBUTES``, the upstream pin) and ``fluxloop_semconv.spans`` (``SPAN_DEFINITIONS``,
one per observation type). This package module re-exports nothing.
"""

__version__ = "0.2.0"

__all__ = ["__version__"]
