"""``python -m fluxloop.cli``."""

from fluxloop.cli import main

if __name__ == "__main__":
    main()
