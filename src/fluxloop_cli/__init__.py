"""Compatibility package: the original FluxLoop CLI's import paths (``fluxloop_cli``).

This one ``fluxloop`` distribution is what the seeds call both ``fluxloop`` and
``fluxloop-cli``. Code and test files written for the original keep importing from here:
``from fluxloop_cli.testing.pytest_plugin import fluxloop_runner`` and
``python -m fluxloop_cli.main ...``. Everything lives in :mod:`fluxloop`.
"""
