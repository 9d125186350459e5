"""The generation settings: what ``fluxloop generate inputs`` reads from the configuration.

Sources (the seeds' ``input.yaml`` / ``setting.yaml``), command line first:

* ``personas``, ``base_inputs`` (the runner's parsing);
* strategies: ``--strategy`` > ``input_generation.strategies`` > ``variation_strategies`` >
  ``rephrase, verbose, concise``;
* ``variation_count`` (variations per base input x persona x strategy, default 1),
  ``variation_temperature``, ``variation_model``, ``custom_variation_prompt``;
* ``input_generation``: ``mode`` (``llm`` | ``deterministic``), ``seed``, ``limit``,
  ``templates`` (custom deterministic strategies), ``llm`` (provider, model, api_key, base_url,
  temperature, top_p, frequency/presence penalties, max_tokens, request_timeout, max_retries,
  retry_delay, concurrency, system_prompt, user_prompt_template, strategy_prompts, cache).

The mode defaults to ``llm`` only when an LLM is configured (``input_generation.mode: llm`` or
``input_generation.llm.enabled: true``); otherwise generation is deterministic and offline.
Every problem is reported at once, each with file:line (exit code 2).
"""

from __future__ import annotations

import difflib
import os
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fluxloop.llm.models import PROVIDER_KEY_VARS
from fluxloop.llm.settings import LLMSettings, llm_settings_from, resolve_api_key
from fluxloop.project.config import ExperimentConfig, Persona
from fluxloop.project.problems import ConfigProblems, Problem
from fluxloop.project.yaml import display_path, join_key

from .strategies import (
    BUILTIN_STRATEGIES,
    TEMPLATE_FIELDS,
    normalize_strategy_name,
)

__all__ = [
    "DEFAULT_STRATEGIES",
    "PROVIDER_KEY_VARS",
    "GenerationSettings",
    "LLMSettings",
    "load_generation_settings",
    "resolve_api_key",
]

DEFAULT_STRATEGIES = ("rephrase", "verbose", "concise")


@dataclass(frozen=True)
class GenerationSettings:
    project_dir: Path
    config_label: str
    config_name: str
    mode: str
    strategies: tuple[str, ...]
    variation_count: int
    seed: int
    limit: int | None
    personas: tuple[Persona, ...]
    base_inputs: tuple[Mapping[str, Any], ...]
    templates: Mapping[str, tuple[str, ...]]
    llm: LLMSettings
    system_prompt: str | None = None
    user_prompt_template: str | None = None
    strategy_prompts: Mapping[str, str] = field(default_factory=dict)
    custom_prompt: str | None = None
    output: Path | None = None
    cache_dir: Path | None = None
    dedupe: bool = True
    notes: tuple[str, ...] = ()
    #: inputs of the sequence to skip (written by earlier batches; see generation.api)
    offset: int = 0

    def persona(self, name: str | None) -> Persona | None:
        for p in self.personas:
            if p.name == name:
                return p
        return None


class _Checker:
    """The generation rules the schema cannot know: strategy names and template fields.

    The shape of ``input_generation`` (keys, types, bounds) was checked with the whole
    configuration by :mod:`fluxloop.project.problems` when it was loaded."""

    def __init__(self, config: ExperimentConfig | None = None) -> None:
        self.lines = config.lines if config is not None else {}
        self.problems: list[Problem] = []
        self.default_file = display_path(config.source.primary) if config else None

    def error(self, key: str, message: str) -> None:
        where = self.lines.get(key) or self.lines.get(key.rsplit(".", 1)[0])
        self.problems.append(Problem(key, message, where, self.default_file))


def _section(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strategy_list(
    raw: object, key: str, checker: _Checker, templates: Mapping[str, Any]
) -> list[str]:
    if raw is None:
        return []
    items = raw if isinstance(raw, list) else [raw]
    out: list[str] = []
    for i, item in enumerate(items):
        name: object = item
        if isinstance(item, dict):
            name = next(
                (item[k] for k in ("type", "name", "strategy", "value") if item.get(k)), None
            )
        if not isinstance(name, str) or not name.strip():
            checker.error(join_key(key, i), f"expected a strategy name, found {item!r}")
            continue
        norm = normalize_strategy_name(name)
        if norm not in out:
            out.append(norm)
    return out


def _templates(raw: object, checker: _Checker) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    if not isinstance(raw, dict):
        return out
    formatter = string.Formatter()
    for name, value in raw.items():
        key = join_key("input_generation.templates", str(name))
        items = value if isinstance(value, list) else [value]
        templates: list[str] = []
        for template in items:
            if not isinstance(template, str) or not template.strip():
                checker.error(key, f"expected a template string or a list of them, found {value!r}")
                break
            try:
                fields = {f for _, f, _, _ in formatter.parse(template) if f is not None}
            except ValueError as exc:
                checker.error(key, f"invalid template {template!r}: {exc}")
                break
            unknown = sorted(f for f in fields if f not in TEMPLATE_FIELDS)
            if unknown:
                checker.error(
                    key,
                    f"unknown placeholder {{{unknown[0]}}} in {template!r} (known: "
                    + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
                    + ")",
                )
                break
            templates.append(template)
        else:
            out[normalize_strategy_name(name)] = tuple(templates)
    return out


def generation_rules(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The strategy and template problems of a config, as ``(key, message)``.

    For :func:`fluxloop.project.config.load_config`'s ``rules``, so ``generate inputs``
    reports them together with the schema's problems."""
    checker = _Checker()
    _choose(data, checker, mode=None, strategies=None, provider=None)
    return [(p.key, p.message) for p in checker.problems]


def _choose(
    data: Mapping[str, Any],
    checker: _Checker,
    *,
    mode: str | None,
    strategies: Sequence[str] | None,
    provider: str | None,
) -> tuple[str, list[str], dict[str, tuple[str, ...]]]:
    """The mode, the strategy names and the custom templates (problems go to ``checker``)."""
    gen = _section(data.get("input_generation"))
    llm_raw = _section(gen.get("llm"))
    templates = _templates(gen.get("templates"), checker)

    chosen_mode = mode or gen.get("mode")
    if chosen_mode is None:
        chosen_mode = "llm" if llm_raw.get("enabled") is True or provider else "deterministic"
    chosen_mode = str(chosen_mode).strip().lower()
    if chosen_mode not in ("llm", "deterministic"):
        checker.error(
            "input_generation.mode", f"expected llm or deterministic, found {chosen_mode!r}"
        )

    names: list[str]
    if strategies:
        names = _strategy_list(list(strategies), "--strategy", checker, templates)
    else:
        names = _strategy_list(
            gen.get("strategies"), "input_generation.strategies", checker, templates
        )
        if not names:
            names = _strategy_list(
                data.get("variation_strategies"), "variation_strategies", checker, templates
            )
    if not names:
        names = list(DEFAULT_STRATEGIES)
    custom_prompt = data.get("custom_variation_prompt")
    if chosen_mode == "deterministic":
        for name in names:
            if name in BUILTIN_STRATEGIES or name in templates:
                continue
            if name == "custom" and isinstance(custom_prompt, str) and "{input}" in custom_prompt:
                continue
            hint = difflib.get_close_matches(name, [*BUILTIN_STRATEGIES, *templates], n=1)
            suggestion = f"did you mean {hint[0]!r}? " if hint else ""
            checker.error(
                "--strategy" if strategies else "input_generation.strategies",
                f"unknown deterministic strategy {name!r} ({suggestion}known: "
                + ", ".join([*BUILTIN_STRATEGIES, *templates])
                + "; define input_generation.templates."
                + name
                + " or use --mode llm)",
            )

    return chosen_mode, names, templates


def load_generation_settings(
    config: ExperimentConfig,
    *,
    mode: str | None = None,
    strategies: Sequence[str] | None = None,
    limit: int | None = None,
    seed: int | None = None,
    variation_count: int | None = None,
    provider: str | None = None,
    model: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    concurrency: int | None = None,
    no_cache: bool = False,
) -> GenerationSettings:
    """Resolve the generation settings (command-line values first); ConfigProblems if invalid."""
    data = config.raw
    checker = _Checker(config)
    gen = _section(data.get("input_generation"))
    llm_raw = _section(gen.get("llm"))
    chosen_mode, names, templates = _choose(
        data, checker, mode=mode, strategies=strategies, provider=provider
    )
    custom_prompt = data.get("custom_variation_prompt")
    count = variation_count or gen.get("variation_count") or data.get("variation_count") or 1
    if checker.problems:
        raise ConfigProblems(checker.problems)

    chosen_seed = seed
    if chosen_seed is None:
        chosen_seed = gen.get("seed") if gen.get("seed") is not None else config.seed
    search = [config.project_dir, config.runner.working_directory, *config.runner.python_path]
    llm_defaults: dict[str, Any] = {}
    if data.get("variation_temperature") is not None:
        llm_defaults["temperature"] = data["variation_temperature"]
    if data.get("variation_model"):
        llm_defaults["model"] = data["variation_model"]
    if gen.get("concurrency"):
        llm_defaults["concurrency"] = gen["concurrency"]
    llm = llm_settings_from(
        llm_raw,
        dotenv=config.dotenv,
        search_paths=search,
        defaults=llm_defaults,
        overrides={
            "provider": provider,
            "model": model,
            "api_key": api_key,
            "base_url": base_url,
            "concurrency": concurrency,
        },
    )
    if chosen_seed is not None and llm.seed is None and chosen_mode == "llm":
        llm = replace(llm, seed=int(chosen_seed))
    cache_enabled = (
        not no_cache and gen.get("cache") is not False and llm_raw.get("cache") is not False
    )
    cache_dir_raw = llm_raw.get("cache_dir") or gen.get("cache_dir")
    cache_dir: Path | None = None
    if cache_enabled:
        cache_dir = (
            Path(os.path.expandvars(str(cache_dir_raw))).expanduser()
            if cache_dir_raw
            else Path(".fluxloop") / "cache" / "generation"
        )
        if not cache_dir.is_absolute():
            cache_dir = config.project_dir / cache_dir
    output = gen.get("output")
    return GenerationSettings(
        project_dir=config.project_dir,
        config_label=_config_label(config),
        config_name=config.name,
        mode=chosen_mode,
        strategies=tuple(names),
        variation_count=int(count),
        seed=int(chosen_seed) if chosen_seed is not None else 0,
        limit=limit if limit is not None else gen.get("limit"),
        personas=config.personas,
        base_inputs=config.base_inputs,
        templates=templates,
        llm=llm,
        system_prompt=llm_raw.get("system_prompt"),
        user_prompt_template=llm_raw.get("user_prompt_template"),
        strategy_prompts={
            normalize_strategy_name(k): str(v)
            for k, v in (llm_raw.get("strategy_prompts") or {}).items()
        },
        custom_prompt=custom_prompt if isinstance(custom_prompt, str) else None,
        output=(config.project_dir / output) if isinstance(output, str) and output else None,
        cache_dir=cache_dir,
        dedupe=gen.get("dedupe") is not False,
    )


def _config_label(config: ExperimentConfig) -> str:
    files = config.source.files
    project = config.project_dir
    names = []
    for f in files:
        try:
            names.append(str(f.relative_to(project)))
        except ValueError:
            names.append(f.name)
    return ", ".join(names)
