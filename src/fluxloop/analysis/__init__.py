"""Analysis of FluxLoop traces: span trees, timelines, evaluation and comparison."""
