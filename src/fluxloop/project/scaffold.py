"""``fluxloop init``: project scaffolds and agent templates (never interactive)."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Literal

from fluxloop._files import atomic_write
from fluxloop.errors import ConfigError

from .envfiles import DOTENV_MODE
from .schema import SCHEMA_FILE, json_schema_text, modeline
from .yaml import display_path

__all__ = [
    "AGENT_TEMPLATES",
    "AgentResult",
    "ProjectResult",
    "create_agent",
    "create_project",
    "render_template",
]

AGENT_TEMPLATES = ("simple", "langchain", "langgraph")
Layout = Literal["single", "configs"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def render_template(template_name: str, /, **values: str) -> str:
    text = (
        resources.files("fluxloop.project.templates")
        .joinpath(template_name)
        .read_text(encoding="utf-8")
    )
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


@dataclass
class ProjectResult:
    project_dir: Path
    layout: Layout
    created: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def _write(
    path: Path, text: str, force: bool, result_created: list[Path], result_kept: list[Path]
) -> None:
    if path.exists() and not force:
        result_kept.append(path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=DOTENV_MODE if path.name == ".env" else None)
    result_created.append(path)


def create_project(
    name: str,
    root: Path,
    *,
    layout: Layout = "single",
    force: bool = False,
    with_example: bool = True,
) -> ProjectResult:
    """Create ``root/name`` with the seeds' layout; refuses to overwrite without ``force``."""
    if not _NAME.match(name):
        raise ConfigError(
            f"--name: expected letters, digits, '.', '_' or '-', found {name!r}", key="--name"
        )
    if layout not in ("single", "configs"):
        raise ConfigError.for_value("--layout", "single or configs", layout)
    project = (root / name).resolve()
    config_files = (
        [project / "setting.yaml"]
        if layout == "single"
        else [
            project / "configs" / f
            for f in ("project.yaml", "input.yaml", "simulation.yaml", "evaluation.yaml")
        ]
    )
    existing = [
        p for p in (*config_files, project / "setting.yaml", project / "configs") if p.exists()
    ]
    if existing and not force:
        raise ConfigError(
            f"{display_path(project)} already holds a FluxLoop project "
            f"({display_path(existing[0])}); pass --force to overwrite the scaffold files",
            key="--name",
        )
    result = ProjectResult(project_dir=project, layout=layout)
    created, kept = result.created, result.kept
    values = {"name": name}
    # the JSON Schema beside the config, named on each file's first line, so editors with the
    # YAML language server (VS Code's YAML extension...) complete and check the keys
    schema_file = project / SCHEMA_FILE
    _write(schema_file, json_schema_text(), True, created, kept)
    templates = (
        {"setting.yaml.tmpl": config_files[0]}
        if layout == "single"
        else {f"{f.stem}.yaml.tmpl": f for f in config_files}
    )
    for template, path in templates.items():
        text = modeline(path, schema_file) + render_template(template, **values)
        _write(path, text, force, created, kept)
    _write(project / ".env", render_template("env.tmpl", **values), force, created, kept)
    _write(project / ".gitignore", render_template("gitignore.tmpl"), force, created, kept)
    root_env = project.parent / ".env"
    if not root_env.exists():
        _write(root_env, render_template("root_env.tmpl"), False, created, kept)
    if with_example:
        _write(project / "examples" / "__init__.py", "", force, created, kept)
        _write(
            project / "examples" / "simple_agent.py",
            render_template("simple_agent.py.tmpl"),
            force,
            created,
            kept,
        )
    for directory in ("inputs", "experiments", "recordings"):
        path = project / directory
        if not path.exists():
            path.mkdir(parents=True)
            created.append(path)
    return result


@dataclass
class AgentResult:
    path: Path
    module: str
    template: str
    created_package_init: Path | None = None

    @property
    def target(self) -> str:
        return f"{self.module}:run"


def _module_name(path: Path, base: Path) -> str:
    try:
        rel = path.resolve().relative_to(base.resolve())
    except ValueError:
        return path.stem
    return ".".join(rel.with_suffix("").parts)


def create_agent(
    name: str,
    *,
    directory: Path | None = None,
    template: str = "simple",
    force: bool = False,
    cwd: Path | None = None,
) -> AgentResult:
    """Write ``<directory>/<name>.py`` (default ``agents/``) from a template."""
    if template not in AGENT_TEMPLATES:
        raise ConfigError.for_value("--template", "one of " + ", ".join(AGENT_TEMPLATES), template)
    module_stem = name[:-3] if name.endswith(".py") else name
    if not module_stem.isidentifier() or keyword.iskeyword(module_stem):
        raise ConfigError(
            f"agent name: expected a Python module name (letters, digits, '_'), found {name!r}",
            key="name",
        )
    base = (cwd or Path.cwd()).resolve()
    folder = directory if directory is not None else Path("agents")
    folder = folder if folder.is_absolute() else base / folder
    path = folder / f"{module_stem}.py"
    if path.exists() and not force:
        raise ConfigError(
            f"{display_path(path)} already exists; pass --force to overwrite", key="name"
        )
    folder.mkdir(parents=True, exist_ok=True)
    init: Path | None = None
    if folder.resolve() != base and not (folder / "__init__.py").exists():
        init = folder / "__init__.py"
        init.write_text("", encoding="utf-8")
    module = _module_name(path, base)
    text = render_template(
        f"agent_{template}.py.tmpl",
        name=module_stem,
        module=module,
        path=display_path(path),
    )
    path.write_text(text, encoding="utf-8")
    return AgentResult(path=path, module=module, template=template, created_package_init=init)
