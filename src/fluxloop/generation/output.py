"""Writing ``inputs/generated.yaml``: readable by the runner, commented by persona.

Layout::

    # ====== header comment: mode, seed, strategies, counts ======
    generation:            # generation metadata (what made this file)
      ...
    inputs:
    # ------ persona: novice_user (12 inputs) - A user new to the system ------
    - input: ...
      persona: novice_user
      strategy: rephrase
      base_index: 0
      variation_index: 0
      seed: 42
      parent: How do I get started?
      metadata: {expected_intent: help}

The runner (:mod:`fluxloop.project.inputs`) reads ``inputs:``; every other key of an entry becomes
run metadata. Deterministic files carry no timestamp, so the same config and seed give the same
bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from fluxloop.sdk.masking import mask_secrets

from .generator import GenerationResult

__all__ = ["generation_metadata", "render_inputs_file"]

_RULE = "# " + "=" * 75
_THIN = "# " + "-" * 75


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("fluxloop")
    except Exception:  # pragma: no cover
        return "unknown"


def generation_metadata(
    result: GenerationResult, *, generated_at: str | None = None
) -> dict[str, Any]:
    s = result.settings
    personas = [p.name for p in s.personas]
    meta: dict[str, Any] = {
        "generator": f"fluxloop {_version()}",
        "config": s.config_label,
        "config_name": s.config_name,
        "mode": s.mode,
        "seed": s.seed,
        "strategies": list(s.strategies),
        "variation_count": s.variation_count,
        "limit": s.limit,
        "offset": result.offset,
        "sequence": result.sequence,
        "source": result.source,
        "base_inputs": len({g.base_index for g in result.inputs}) or len(s.base_inputs),
        "personas": personas,
        "total": len(result.inputs),
        "planned": result.planned,
        "duplicates_removed": result.duplicates,
        "skipped": len(result.skipped),
    }
    if result.source_info:
        meta["recording"] = dict(result.source_info)
    if s.mode == "llm":
        meta["provider"] = s.llm.provider
        meta["model"] = s.llm.model
        if s.llm.base_url:
            meta["base_url"] = s.llm.base_url
        if s.llm.temperature is not None:
            meta["temperature"] = s.llm.temperature
        meta["usage"] = result.usage.as_dict()
        meta["duration_seconds"] = result.duration_seconds
        if generated_at:
            meta["generated_at"] = generated_at
        if result.skipped:
            meta["skipped_groups"] = list(result.skipped)
    return meta


def _dump(value: Any) -> str:
    return yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=4096
    )


def _clean_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if v is not None or k == "persona"}


def render_inputs_file(result: GenerationResult, *, generated_at: str | None = None) -> str:
    s = result.settings
    meta = generation_metadata(result, generated_at=generated_at)
    counts = f"{len(result.inputs)} inputs"
    shape = (
        f"{meta['base_inputs']} base input(s) x {len(s.personas) or 1} persona(s) x "
        f"{len(s.strategies)} strateg{'y' if len(s.strategies) == 1 else 'ies'} x "
        f"{s.variation_count} variation(s)"
    )
    how = f"mode: {s.mode}  seed: {s.seed}"
    if s.mode == "llm":
        how += f"  model: {s.llm.label}"
    lines = [
        _RULE,
        "# FluxLoop generated inputs (fluxloop generate inputs)",
        f"# {how}",
        f"# strategies: {', '.join(s.strategies)}",
        f"# {counts} from {shape}"
        + (f", limit {s.limit}" if s.limit is not None else "")
        + (f"; {result.duplicates} duplicate(s) removed" if result.duplicates else "")
        + (f"; {len(result.skipped)} group(s) skipped" if result.skipped else ""),
        "# Run them with `fluxloop run experiment`; regenerate with --overwrite.",
        _RULE,
        "",
        _dump({"generation": mask_secrets(meta)}).rstrip("\n"),
        "",
        "inputs:",
    ]
    order: list[str | None] = [p.name for p in s.personas]
    by_persona: dict[str | None, list[dict[str, Any]]] = {}
    for item in result.inputs:
        if item.persona not in order:
            order.append(item.persona)
        persona = s.persona(item.persona)
        # a base input's metadata (password, authorization…) or text (sk-…) is never copied raw
        entry = mask_secrets(_clean_entry(item.entry(persona)))
        by_persona.setdefault(item.persona, []).append(entry)  # type: ignore[arg-type]
    for name in order:
        entries = by_persona.get(name)
        if not entries:
            continue
        persona = s.persona(name)
        title = f"persona: {name}" if name else "no persona"
        title += f" ({len(entries)} input{'s' if len(entries) != 1 else ''})"
        if persona is not None and persona.description:
            title += f" - {persona.description}"
        lines += [_THIN, f"# {title}", _THIN]
        lines.append(_dump(entries).rstrip("\n"))
    return "\n".join(lines) + "\n"
