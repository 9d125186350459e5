"""Pluto Duck: a WebSocket-style handler recorded in staging and replayed by FluxLoop."""
