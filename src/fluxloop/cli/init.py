"""``fluxloop init project`` and ``fluxloop init agent`` (never prompt)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from ._common import echo, info

__all__ = ["init"]


@click.group()
def init() -> None:
    """Create a FluxLoop project or an agent from a template."""


@init.command("project")
@click.argument(
    "root_arg", metavar="[PATH]", required=False, type=click.Path(file_okay=False, path_type=Path)
)
@click.option("--name", "-n", default=None, help="Project name (directory under the root).")
@click.option(
    "--path",
    "--root",
    "root_opt",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="FluxLoop root directory (default ./fluxloop).",
)
@click.option(
    "--layout",
    type=click.Choice(["single", "configs"]),
    default="single",
    show_default=True,
    help="single: one setting.yaml; configs: configs/{project,input,simulation,evaluation}.yaml.",
)
@click.option("--force", "-f", is_flag=True, help="Overwrite existing scaffold files.")
@click.option(
    "--with-example/--no-example",
    default=True,
    show_default=True,
    help="Create examples/simple_agent.py.",
)
def project(
    root_arg: Path | None,
    name: str | None,
    root_opt: Path | None,
    layout: str,
    force: bool,
    with_example: bool,
) -> None:
    """Scaffold fluxloop/NAME/ with a runnable example agent."""
    from fluxloop.errors import ConfigError
    from fluxloop.project.scaffold import create_project
    from fluxloop.project.yaml import display_path

    root = root_opt or root_arg or Path("fluxloop")
    if name is None:
        cwd = Path.cwd()
        if root_opt is None and root_arg is None and cwd.parent.name == "fluxloop":
            root, name = cwd.parent, cwd.name
        else:
            raise ConfigError(
                "--name: required (the project directory name, e.g. --name my-agent)", key="--name"
            )
    result = create_project(
        name,
        root,
        layout="configs" if layout == "configs" else "single",
        force=force,
        with_example=with_example,
    )
    where = display_path(result.project_dir)
    echo(f"Created FluxLoop project {name!r} in {where} ({layout} layout)")
    for path in result.created:
        info(f"  + {display_path(path)}")
    for path in result.kept:
        info(f"  = {display_path(path)} (kept)")
    echo("Next steps:")
    echo(f"  cd {where}")
    echo('  fluxloop run single examples.simple_agent:run "Hello"')
    echo("  fluxloop run experiment")


@init.command("agent")
@click.argument("name")
@click.option(
    "--template",
    "-t",
    type=click.Choice(["simple", "langchain", "langgraph"]),
    default="simple",
    show_default=True,
    help="Agent template.",
)
@click.option(
    "--path",
    "-p",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory for the agent module (default ./agents).",
)
@click.option("--force", "-f", is_flag=True, help="Overwrite an existing file.")
def agent(name: str, template: str, directory: Path | None, force: bool) -> None:
    """Create NAME.py from a runnable template."""
    from fluxloop.project.scaffold import create_agent
    from fluxloop.project.yaml import display_path

    result = create_agent(name, directory=directory, template=template, force=force)
    echo(f"Created {display_path(result.path)} (template: {template})")
    if template == "langgraph" and importlib.util.find_spec("langgraph") is None:
        info("note: this template needs LangGraph, which is not installed: pip install langgraph")
    echo(f'  try it:  fluxloop run single {result.target} "Hello"')
    echo(f'  config:  runner.target: "{result.target}"')


@init.command("pytest-template")
@click.argument(
    "project_root",
    metavar="[PROJECT_ROOT]",
    required=False,
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--tests-dir",
    default="tests",
    show_default=True,
    help="Directory for the test, relative to the project root.",
)
@click.option("--filename", default="test_fluxloop_smoke.py", show_default=True)
@click.option("--force", "-f", is_flag=True, help="Overwrite an existing file.")
def pytest_template(project_root: Path, tests_dir: str, filename: str, force: bool) -> None:
    """Create a pytest smoke test that runs the experiment with the fluxloop_runner fixture."""
    from fluxloop.errors import ConfigError
    from fluxloop.integrations.pytest_plugin.template import write_template
    from fluxloop.project.config import discover_config
    from fluxloop.project.yaml import display_path

    root = project_root.resolve()
    discover_config(cwd=root)  # a clear error when this is not a FluxLoop project
    if not filename.endswith(".py") or not filename.startswith("test"):
        raise ConfigError.for_value("--filename", "a test_*.py file name", filename)
    try:
        path = write_template(
            project_root=root, tests_dir=tests_dir, filename=filename, force=force
        )
    except FileExistsError:
        target = display_path(root / tests_dir / filename)
        raise ConfigError(
            f"{target} already exists; pass --force to overwrite", key="--filename"
        ) from None
    echo(f"Created {display_path(path)}")
    echo(f"  run it:  pytest {display_path(path)}")
