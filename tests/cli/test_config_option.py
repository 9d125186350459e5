"""``--config`` is declared once (``fluxloop.cli._common.config_option``) and every command that
takes a config uses that declaration: same spellings, same parameter name."""

from __future__ import annotations

from pathlib import Path

import click

from fluxloop.cli import LAZY_COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]


def _commands(group: click.Group, ctx: click.Context, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if command is None:
            continue
        path = f"{prefix}{name}"
        found[path] = command
        if isinstance(command, click.Group):
            found.update(_commands(command, ctx, path + " "))
    return found


def test_every_config_option_is_the_one_declaration() -> None:
    with click.Context(cli) as ctx:
        commands = _commands(cli, ctx)
    assert set(LAZY_COMMANDS) <= set(commands)
    with_config = {}
    for path, command in commands.items():
        for param in command.params:
            if "--config" in getattr(param, "opts", []):
                with_config[path] = param
    # the commands that read a FluxLoop config (the others take none)
    assert {
        "generate inputs",
        "run experiment",
        "run single",
        "evaluate experiment",
        "status check",
        "status experiments",
        "status traces",
        "config show",
        "config validate",
        "config set",
        "config set-llm",
        "record enable",
        "record disable",
        "record status",
    } <= set(with_config)
    for path, param in with_config.items():
        assert param.name == "config_path", path
        assert param.opts[:2] == ["--config", "-c"], path


def test_config_is_declared_only_in_common() -> None:
    declared = [
        path.relative_to(ROOT).as_posix()
        for path in sorted((ROOT / "src/fluxloop/cli").glob("*.py"))
        if '"--config"' in path.read_text(encoding="utf-8")
    ]
    assert declared == ["src/fluxloop/cli/_common.py"]
