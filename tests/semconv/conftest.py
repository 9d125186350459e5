"""Fixtures for the semconv generator tests."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

SEMCONV = Path(__file__).resolve().parents[2] / "semconv"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("semconv_generate", SEMCONV / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def generator() -> ModuleType:
    return _load_generator()


@pytest.fixture
def registry_copy(tmp_path: Path) -> Path:
    """A writable copy of semconv/registry."""
    target = tmp_path / "registry"
    shutil.copytree(SEMCONV / "registry", target)
    return target
