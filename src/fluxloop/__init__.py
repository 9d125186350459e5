"""FluxLoop."""
