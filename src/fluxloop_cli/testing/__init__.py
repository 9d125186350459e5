"""The original CLI's testing helpers: see :mod:`fluxloop_cli.testing.pytest_plugin`."""
