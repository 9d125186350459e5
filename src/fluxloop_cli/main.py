"""``python -m fluxloop_cli.main ARGS``: the original CLI's module entry point, now ``fluxloop``."""

from __future__ import annotations

from fluxloop.cli import main

if __name__ == "__main__":
    main()
