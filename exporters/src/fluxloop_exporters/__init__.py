"""FluxLoop exporters."""
