"""``generate_inputs``: what ``fluxloop generate inputs`` does, callable from Python.

Exit-code semantics (raised, mapped by the CLI): :class:`~fluxloop.errors.ConfigError` (2) for
bad settings, a missing API key, an unknown strategy or an existing output without
``overwrite``; :class:`GenerationError` (1) when nothing could be generated (never an empty
file); partial results (some groups skipped) are written and reported.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fluxloop._files import atomic_write
from fluxloop.cassette import resolve_settings, use_cassette
from fluxloop.errors import ConfigError, FluxLoopError
from fluxloop.llm.client import LLMClient
from fluxloop.project.config import ExperimentConfig
from fluxloop.project.inputs import DEFAULT_INPUTS_FILE
from fluxloop.project.yaml import display_path, safe_load

from .generator import (
    BaseInput,
    GenerationResult,
    asks_for,
    base_inputs_from_config,
    build_prompt,
    extend_for_limit,
    fair_order,
    generate,
    generate_deterministic,
    llm_client,
    plan_groups,
)
from .output import render_inputs_file
from .progress import GenerationProgress
from .recording import DEFAULT_OVERRIDE_PATH, recorded_bases
from .settings import GenerationSettings, load_generation_settings

__all__ = ["GenerateOptions", "GenerateOutcome", "GenerationError", "generate_inputs"]


class GenerationError(FluxLoopError):
    """Nothing could be generated (exit code 1, with the reasons)."""

    exit_code = 1


@dataclass
class GenerateOptions:
    output: Path | None = None
    limit: int | None = None
    strategies: Sequence[str] | None = None
    mode: str | None = None
    seed: int | None = None
    variation_count: int | None = None
    from_recording: Path | None = None
    recording_index: str = "-1"
    override_param_path: str | None = None
    provider: str | None = None
    model: str | None = None
    api_key: str | None = None
    base_url: str | None = None
    concurrency: int | None = None
    no_cache: bool = False
    #: None: keep the previous file as ``<name>.bak`` and replace it; True: replace it;
    #: False: refuse (exit 2), the original's strictness
    overwrite: bool | None = None
    #: skip this many inputs of the sequence; None: continue after sibling batch files
    offset: int | None = None
    dry_run: bool = False
    cassette: str | None = None  # record | replay | auto | off (None: env, config)
    cassette_timing: str | None = None


@dataclass
class GenerateOutcome:
    settings: GenerationSettings
    output: Path
    result: GenerationResult | None = None
    written: bool = False
    dry_run_lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def output_path(
    config: ExperimentConfig, settings: GenerationSettings, explicit: Path | None
) -> Path:
    if explicit is not None:
        return explicit if explicit.is_absolute() else Path.cwd() / explicit
    if settings.output is not None:
        return settings.output
    if config.inputs_file is not None:
        return config.inputs_file
    return config.project_dir / DEFAULT_INPUTS_FILE


def _recording_bases(
    config: ExperimentConfig, options: GenerateOptions
) -> tuple[list[BaseInput], dict[str, Any], list[str]]:
    assert options.from_recording is not None
    path = options.from_recording
    if not path.is_absolute():
        here = Path.cwd() / path
        path = here if here.exists() else config.project_dir / path
    override = (
        options.override_param_path or config.replay.override_param_path or DEFAULT_OVERRIDE_PATH
    )
    notes: list[str] = []
    if not (options.override_param_path or config.replay.override_param_path):
        notes.append(f"replay_args.override_param_path is not set; using {DEFAULT_OVERRIDE_PATH!r}")
    which: str | int = "all" if options.recording_index == "all" else options.recording_index
    pairs, more = recorded_bases(path, override, which)
    notes.extend(more)
    label = _relative(path, config.project_dir)
    bases = [
        BaseInput(
            index=i,
            text=text,
            source={
                "source": "recording",
                "recording_file": label,
                "recording_index": call.index,
                "override_param_path": override,
            },
        )
        for i, (call, text) in enumerate(pairs)
    ]
    info: dict[str, Any] = {
        "file": label,
        "override_param_path": override,
        "calls": [call.index for call, _ in pairs],
    }
    targets = sorted({call.target for call, _ in pairs if call.target})
    if targets:
        info["target"] = targets[0] if len(targets) == 1 else targets
    return bases, info, notes


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def _dry_run_lines(
    settings: GenerationSettings, bases: Sequence[BaseInput], output: Path
) -> list[str]:
    groups = extend_for_limit(plan_groups(settings, bases), settings)
    slots = fair_order(groups, settings)[settings.offset :]
    if settings.limit is not None:
        slots = slots[: settings.limit]
    lines = [
        f"Config:       {settings.config_label}",
        f"Mode:         {settings.mode}",
        f"Strategies:   {', '.join(settings.strategies)}",
        f"Personas:     {', '.join(p.name for p in settings.personas) or '(none)'}",
        f"Base inputs:  {len(bases)}",
        f"Variations:   {settings.variation_count} per base input x persona x strategy",
        f"Seed:         {settings.seed}",
        f"Offset:       {settings.offset}",
        f"Planned:      {len(slots)} input(s)"
        + (f" (limit {settings.limit})" if settings.limit is not None else ""),
        f"Output:       {display_path(output)}",
    ]
    if settings.mode == "deterministic":
        result = generate_deterministic(settings, bases)
        lines.append("Preview:")
        for item in result.inputs[:10]:
            lines.append(f"  [{item.persona or '-'} / {item.strategy}] {item.input}")
        if len(result.inputs) > 10:
            lines.append(f"  ... {len(result.inputs) - 10} more")
        return lines
    llm = settings.llm
    key = f"found ({llm.api_key_source})" if llm.api_key else "not found"
    lines += [
        f"Model:        {llm.label}" + (f" at {llm.base_url}" if llm.base_url else ""),
        f"API key:      {key}",
        f"Concurrency:  {llm.concurrency}; retries {llm.max_retries}; "
        f"cache {display_path(settings.cache_dir) if settings.cache_dir else 'off'}",
    ]
    asks = asks_for(slots)
    lines.append(f"Prompts:      {len(asks)} call(s)")
    for n, ask in enumerate(asks, 1):
        group = groups[ask.group_index]
        prompt = build_prompt(settings, group, len(ask.numbers))
        if n == 1:
            lines += ["", "--- system prompt ---", prompt.system]
        lines += [
            "",
            f"--- prompt {n}/{len(asks)}: base {group.base.index}, persona "
            f"{group.persona_name or '-'}, strategy {group.strategy}, "
            f"{len(ask.numbers)} variation(s) ---",
            prompt.user,
        ]
    return lines


def generate_inputs(
    config: ExperimentConfig,
    options: GenerateOptions,
    *,
    client: LLMClient | None = None,
    progress: GenerationProgress | None = None,
) -> GenerateOutcome:
    """Generate the inputs ``options`` ask for (or, with ``dry_run``, describe them); LLM work
    is reported to ``progress`` as it happens."""
    section = config.raw.get("cassette")
    cassette = resolve_settings(
        mode=options.cassette,
        timing=options.cassette_timing,
        config=section if isinstance(section, dict) else None,
        base_dir=config.project_dir,
    )
    settings = load_generation_settings(
        config,
        mode=options.mode,
        strategies=options.strategies,
        limit=options.limit,
        seed=options.seed,
        variation_count=options.variation_count,
        provider=options.provider,
        model=options.model,
        api_key=options.api_key,
        base_url=options.base_url,
        concurrency=options.concurrency,
        # with a cassette, the cassette is the cache: every call reaches it and is recorded
        no_cache=options.no_cache or cassette.enabled,
    )
    output = output_path(config, settings, options.output)
    notes: list[str] = []
    source_info: dict[str, Any] = {}
    if options.from_recording is not None:
        bases, source_info, notes = _recording_bases(config, options)
    else:
        bases = base_inputs_from_config(settings)
        if not bases:
            raise ConfigError(
                f"{settings.config_label}: base_inputs: nothing to generate from; add "
                "base_inputs (or use --from-recording FILE)",
                key="base_inputs",
            )
    for base in bases:
        if base.persona is not None and settings.persona(base.persona) is None:
            notes.append(
                f"base_inputs[{base.index}].persona {base.persona!r} is not a configured persona"
            )
    sequence = sequence_id(settings, bases)
    offset, offset_note = choose_offset(output, sequence, options.offset, settings.limit)
    if offset_note:
        notes.append(offset_note)
    settings = replace(settings, offset=offset)
    outcome = GenerateOutcome(settings=settings, output=output, notes=notes)
    if options.dry_run:
        outcome.dry_run_lines = _dry_run_lines(settings, bases, output)
        return outcome
    if output.exists() and options.overwrite is False:
        raise ConfigError(
            f"{display_path(output)} already exists; pass --overwrite to replace it (or "
            "--output another file)",
            key="--output",
        )
    if settings.mode == "llm":
        if client is None:
            client = llm_client(settings)
        _ = client.model  # build it now: a missing key or package is a config error (exit 2)
        if progress is not None:
            progress.start(f"generate ({settings.llm.label})", client.meter)
    else:
        progress = None  # no LLM work to report
        cassette = replace(cassette, mode="off")
    try:
        with use_cassette(
            cassette, name=config.name, target=config.runner.target or None, scope="generate"
        ):
            result = generate(
                settings,
                bases,
                client=client,
                on_progress=progress.update if progress is not None else None,
            )
    finally:
        if progress is not None:
            progress.finish()
    if options.from_recording is not None:
        result.source = "recording"
        result.source_info = source_info
    result.notes = notes
    result.sequence = sequence
    outcome.result = result
    if result.wanted is not None and len(result.inputs) < result.wanted:
        notes.append(
            f"the {settings.mode} strategies ran out of distinct variations: "
            f"{len(result.inputs)} of the {result.wanted} asked for"
        )
    if not result.inputs:
        reasons = sorted({str(s.get("reason")) for s in result.skipped})
        detail = "; ".join(reasons[:3]) if reasons else "every variation was a duplicate"
        raise GenerationError(
            f"no inputs were generated ({len(result.skipped)} of {result.groups} group(s) "
            f"skipped): {detail}; {display_path(output)} was not written"
        )
    generated_at = datetime.now(UTC).isoformat() if settings.mode == "llm" else None
    if output.exists() and options.overwrite is None:
        backup = output.with_name(output.name + ".bak")
        shutil.copy2(output, backup)  # one backup: the previous .bak is replaced
        notes.append(
            f"kept the previous {display_path(output)} as {display_path(backup)} "
            "(--overwrite replaces it without a backup, --no-overwrite refuses)"
        )
    atomic_write(output, render_inputs_file(result, generated_at=generated_at))
    outcome.written = True
    return outcome


def sequence_id(settings: GenerationSettings, bases: Sequence[BaseInput]) -> str:
    """What makes the sequence of generated inputs: equal ids continue one another."""
    key = {
        "mode": settings.mode,
        "seed": settings.seed,
        "strategies": list(settings.strategies),
        "variation_count": settings.variation_count,
        "personas": [p.name for p in settings.personas],
        "bases": [[b.text, b.persona] for b in bases],
        "model": settings.llm.label if settings.mode == "llm" else None,
    }
    raw = json.dumps(key, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()[:16]


def _generation_block(path: Path) -> dict[str, Any] | None:
    try:
        with path.open(encoding="utf-8") as fh:
            head = []
            for line in fh:  # the generation block comes before the inputs: read only that
                if line.startswith("inputs:"):
                    break
                head.append(line)
        data = safe_load("".join(head), str(path))
    except (OSError, UnicodeDecodeError, ConfigError):
        return None
    block = data.get("generation") if isinstance(data, dict) else None
    return block if isinstance(block, dict) else None


def choose_offset(
    output: Path, sequence: str, explicit: int | None, limit: int | None
) -> tuple[int, str | None]:
    """Where in the sequence this file starts, and a line saying why.

    ``--offset`` wins. A file rewritten keeps its own offset (the same command on the same files
    gives the same bytes). A new file continues after the sibling files (same folder) written
    from the same sequence, so ``--output inputs/batch1.yaml`` then ``batch2.yaml`` differ and
    do not overlap. Without ``--limit`` a file holds the whole plan: no continuation.
    """
    if explicit is not None:
        return explicit, (
            f"starting at input {explicit} of the sequence (--offset)" if explicit else None
        )
    if output.is_file():
        own = _generation_block(output)
        if own and own.get("sequence") == sequence and isinstance(own.get("offset"), int):
            offset = int(own["offset"])
            if offset:
                return offset, (
                    f"starting at input {offset} of the sequence, as {display_path(output)} "
                    "did (--offset 0 to start over)"
                )
            return 0, None
    end = 0
    after: list[str] = []
    if limit is not None and output.parent.is_dir():
        for sibling in sorted(output.parent.iterdir()):
            if sibling == output or sibling.suffix not in {".yaml", ".yml"}:
                continue
            block = _generation_block(sibling)
            if not block or block.get("sequence") != sequence:
                continue
            start, total = block.get("offset", 0), block.get("total", 0)
            if isinstance(start, int) and isinstance(total, int):
                end = max(end, start + total)
                after.append(sibling.name)
    if not end:
        return 0, None
    return end, (
        f"continuing the sequence after the {end} input(s) already in {', '.join(after)} "
        "(--offset 0 to start over)"
    )
