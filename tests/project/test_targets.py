"""Target resolution: functions, classes (constructor / factory), instances, clear errors."""

from __future__ import annotations

import pytest

from fluxloop.errors import TargetError
from fluxloop.project.targets import resolve_target, target_environment
from tests.projects import Project

CODE = """
class Agent:
    def __init__(self):
        self.prefix = "ctor"

    def handle(self, message):
        return f"{self.prefix}:{message}"

    @staticmethod
    def static(message):
        return f"static:{message}"


class NeedsArgs:
    def __init__(self, model):
        self.model = model

    def handle(self, message):
        return f"{self.model}:{message}"


def make(model="factory"):
    return NeedsArgs(model)


instance = NeedsArgs("instance")


def run(input_text):
    return input_text.upper()


async def arun(input_text):
    return input_text


async def agen(input_text):
    yield input_text


value = 3
"""


def resolve(project: Project, spec: str, **kw: object) -> object:
    with target_environment(project.root):
        return resolve_target(spec, search=[project.root], **kw)  # type: ignore[arg-type]


def test_target_forms(project: Project) -> None:
    mod = project.agent(CODE)
    assert resolve(project, f"{mod}:run").func("a") == "A"  # type: ignore[attr-defined]
    assert resolve(project, f"{mod}:arun").kind == "async"  # type: ignore[attr-defined]
    assert resolve(project, f"{mod}:agen").kind == "asyncgen"  # type: ignore[attr-defined]
    assert resolve(project, f"{mod}:Agent.handle").func("m") == "ctor:m"  # type: ignore[attr-defined]
    assert resolve(project, f"{mod}:Agent.static").func("m") == "static:m"  # type: ignore[attr-defined]
    assert resolve(project, f"{mod}:instance.handle").func("m") == "instance:m"  # type: ignore[attr-defined]
    t = resolve(
        project, f"{mod}:NeedsArgs.handle", factory=f"{mod}:make", factory_kwargs={"model": "fk"}
    )
    assert t.func("m") == "fk:m"  # type: ignore[attr-defined]
    t = resolve(project, f"{mod}:NeedsArgs.handle", factory="make")
    assert t.func("m") == "factory:m"  # type: ignore[attr-defined]


def test_missing_module_says_to_set_working_directory(project: Project) -> None:
    with pytest.raises(TargetError) as info:
        resolve(project, "missing_pkg_qq.simple_agent:run")
    message = str(info.value)
    assert "\n" not in message
    assert "no module named 'missing_pkg_qq'" in message
    assert "set runner.working_directory" in message


def test_other_target_errors_are_one_line(project: Project) -> None:
    mod = project.agent(CODE)
    broken = project.agent("import not_installed_pkg_xyz\n")
    syntax = project.agent("def f(:\n")
    crash = project.agent("raise RuntimeError('boom at import')\n")
    cases = {
        f"{mod}:runn": "has no attribute 'runn' (did you mean 'run'?)",
        f"{mod}:value": "resolves to a int, which is not callable",
        f"{mod}:NeedsArgs.handle": "cannot construct NeedsArgs() without arguments",
        f"{broken}:f": "No module named 'not_installed_pkg_xyz'",
        f"{syntax}:f": "syntax error at",
        f"{crash}:f": "RuntimeError: boom at import",
        "nocolon": 'expected "module:function"',
    }
    for spec, expected in cases.items():
        with pytest.raises(TargetError) as info:
            resolve(project, spec)
        assert expected in str(info.value), (spec, str(info.value))
        assert "\n" not in str(info.value)


def test_sys_path_is_restored(project: Project) -> None:
    import sys

    before = list(sys.path)
    mod = project.agent(CODE)
    resolve(project, f"{mod}:run")
    assert sys.path == before
