"""FluxLoop semantic conventions."""
