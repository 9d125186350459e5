"""Input generation: base inputs x personas x strategies x variation_count, deterministic or LLM.

The plan is a list of groups ``(base input, persona, strategy)``, each wanting
``variation_count`` variations. ``--limit`` picks variations fairly: variation number first, then
base input, strategy and persona innermost, so every persona gets its share (the original gave
the whole budget to the first persona). Outputs are de-duplicated per persona (case, spacing and
trailing punctuation ignored; an output equal to its base input counts as a duplicate), and
duplicates are replaced by further variations when possible.

Deterministic mode needs no network and is byte-reproducible for the same config and seed. LLM
mode asks one chat call per group for all its variations, bounded and cached (:mod:`.llm`);
groups whose replies stay malformed, or whose calls fail, are skipped with the reason.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fluxloop.llm.cache import ResponseCache
from fluxloop.llm.client import LLMCallError, LLMClient, LLMFatalError
from fluxloop.llm.text import MalformedOutput
from fluxloop.llm.usage import UsageMeter
from fluxloop.project.config import Persona

from .llm import parse_variations
from .settings import GenerationSettings
from .strategies import (
    BUILTIN_STRATEGIES,
    STRATEGY_DESCRIPTIONS,
    Strategy,
    TemplateStrategy,
    derive_rng,
    render_template,
)

__all__ = [
    "BaseInput",
    "GeneratedInput",
    "GenerationResult",
    "Group",
    "Prompt",
    "asks_for",
    "base_inputs_from_config",
    "build_prompt",
    "generate",
    "plan_groups",
]

DEFAULT_SYSTEM_PROMPT = (
    "You write realistic test inputs for an AI agent: messages that its users would send. "
    "You never answer the messages; you only write them. Reply with JSON only."
)
DEFAULT_USER_PROMPT = """\
Base input:
{input}

Strategy: {strategy}
{strategy_instruction}

User persona:
{persona}

Write {count} distinct variation(s) of the base input that apply the strategy, written the way \
this persona would type it{language_hint}. Keep the original intent and do not answer it.
Reply with JSON only, exactly in this form: {{"variations": ["...", "..."]}}"""
REPAIR_PROMPT = 'Reply with JSON only, exactly in this form: {"variations": ["...", "..."]}'


@dataclass(frozen=True)
class BaseInput:
    index: int
    text: str
    persona: str | None = None  # the base input's own persona (runs only with it)
    extras: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)  # recording provenance


@dataclass(frozen=True)
class Group:
    base: BaseInput
    persona: Persona | None
    strategy: str
    want: int

    @property
    def persona_name(self) -> str | None:
        return self.persona.name if self.persona else self.base.persona


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str

    @property
    def hash(self) -> str:
        return hashlib.sha256(f"{self.system}\n{self.user}".encode()).hexdigest()[:16]


@dataclass
class GeneratedInput:
    input: str
    persona: str | None
    strategy: str
    base_index: int
    variation_index: int
    parent: str
    seed: int
    extras: Mapping[str, Any] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    llm: Mapping[str, Any] = field(default_factory=dict)

    def entry(self, persona: Persona | None) -> dict[str, Any]:
        """The inputs-file entry (the runner reads ``input``, ``persona``, the rest is metadata)."""
        out: dict[str, Any] = {
            "input": self.input,
            "persona": self.persona,
            "strategy": self.strategy,
            "base_index": self.base_index,
            "variation_index": self.variation_index,
            "seed": self.seed,
            "parent": self.parent,
        }
        if persona is not None and persona.description:
            out["persona_description"] = persona.description
        out.update(self.source)
        out.update(self.llm)
        extras = dict(self.extras)
        if extras:
            out["metadata"] = extras
        return out


@dataclass
class GenerationResult:
    settings: GenerationSettings
    inputs: list[GeneratedInput]
    planned: int
    groups: int
    duplicates: int = 0
    skipped: list[dict[str, Any]] = field(default_factory=list)
    usage: UsageMeter = field(default_factory=UsageMeter)
    duration_seconds: float = 0.0
    source: str = "base_inputs"
    source_info: Mapping[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: inputs of the sequence skipped at its start (earlier batches)
    offset: int = 0
    #: how many inputs were asked for (offset excluded); more than ``inputs`` when the
    #: strategies ran out of distinct variations
    wanted: int | None = None
    #: identifies the deterministic sequence (mode, seed, strategies, personas, base inputs):
    #: batch files with the same value continue one another
    sequence: str = ""


def base_inputs_from_config(settings: GenerationSettings) -> list[BaseInput]:
    out: list[BaseInput] = []
    for index, raw in enumerate(settings.base_inputs):
        text = raw.get("input")
        meta = raw.get("metadata")
        extras: dict[str, Any] = dict(meta) if isinstance(meta, Mapping) else {}
        for k, v in raw.items():
            if k not in ("input", "persona", "metadata"):
                extras.setdefault(str(k), v)
        own = raw.get("persona")
        out.append(
            BaseInput(
                index=index,
                text=text if isinstance(text, str) else str(text),
                persona=str(own) if own else None,
                extras=extras,
            )
        )
    return out


def plan_groups(settings: GenerationSettings, bases: Sequence[BaseInput]) -> list[Group]:
    """Every (base, persona, strategy) group in file order: base, persona, strategy."""
    groups: list[Group] = []
    for base in bases:
        if base.persona is not None:
            personas: list[Persona | None] = [settings.persona(base.persona)]
        else:
            personas = list(settings.personas) or [None]
        for persona in personas:
            for strategy in settings.strategies:
                groups.append(Group(base, persona, strategy, settings.variation_count))
    return groups


def extend_for_limit(groups: Sequence[Group], settings: GenerationSettings) -> list[Group]:
    """Groups wanting enough variations for ``offset + limit`` inputs: ``--limit 50`` over one
    base input and three strategies asks for 17 variations per group, not 1 (variation numbers
    only grow, so a longer sequence starts with the shorter one: batches never overlap)."""
    if settings.limit is None or not groups:
        return list(groups)
    need = settings.offset + settings.limit
    # three times the even share: de-duplication rejects some variations, and the loop stops
    # as soon as it has enough
    want = max(settings.variation_count, 3 * -(-need // len(groups)))
    return [Group(g.base, g.persona, g.strategy, want) for g in groups]


def fair_order(groups: Sequence[Group], settings: GenerationSettings) -> list[tuple[int, int]]:
    """``(group index, variation number)`` slots in the order the limit consumes them."""
    persona_rank = {p.name: i for i, p in enumerate(settings.personas)}
    strategy_rank = {s: i for i, s in enumerate(settings.strategies)}
    slots = [(gi, k) for gi, g in enumerate(groups) for k in range(g.want)]

    def key(slot: tuple[int, int]) -> tuple[int, int, int, int]:
        group = groups[slot[0]]
        return (
            slot[1],
            group.base.index,
            strategy_rank.get(group.strategy, 0),
            persona_rank.get(group.persona_name or "", len(persona_rank)),
        )

    return sorted(slots, key=key)


_NORM = re.compile(r"[\s]+")


def _norm(text: str) -> str:
    return _NORM.sub(" ", text.casefold()).strip().strip(".?!").strip()


class _Deduper:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.seen: set[tuple[str | None, str]] = set()

    def parent(self, persona: str | None, text: str) -> None:
        self.seen.add((persona, _norm(text)))

    def accept(self, persona: str | None, text: str) -> bool:
        if not text.strip():
            return False
        key = (persona, _norm(text))
        if self.enabled and key in self.seen:
            return False
        self.seen.add(key)
        return True


def _strategy_function(settings: GenerationSettings, name: str) -> Strategy:
    if name in settings.templates:
        return TemplateStrategy(tuple(settings.templates[name]))
    if name == "custom" and settings.custom_prompt and "{input}" in settings.custom_prompt:
        return TemplateStrategy((settings.custom_prompt,))
    return BUILTIN_STRATEGIES[name]


def _file_order(
    chosen: dict[int, list[GeneratedInput]], groups: Sequence[Group]
) -> list[GeneratedInput]:
    out: list[GeneratedInput] = []
    for gi in range(len(groups)):
        out.extend(sorted(chosen.get(gi, []), key=lambda g: g.variation_index))
    return out


# --------------------------------------------------------------------------------------------
# deterministic

#: rounds in a row without a new distinct variation before the strategies count as exhausted
_PATIENCE = 5


def _deterministic_slots(
    groups: Sequence[Group],
    settings: GenerationSettings,
    accepted: Callable[[], int],
    target: int | None,
) -> Iterator[tuple[int, int]]:
    """The plan's slots in fair order; with a target (``--limit``), further rounds of variation
    numbers until it is met or the strategies stop producing new variations."""
    if target is None:
        yield from fair_order(groups, settings)
        return
    one_round = [gi for gi, number in fair_order(groups, settings) if number == 0]
    idle = 0
    k = 0
    while accepted() < target:
        before = accepted()
        for gi in one_round:
            yield gi, k
        k += 1
        idle = idle + 1 if accepted() == before else 0
        if k >= settings.variation_count and idle >= _PATIENCE:
            return


def generate_deterministic(
    settings: GenerationSettings, bases: Sequence[BaseInput], *, max_tries: int = 4
) -> GenerationResult:
    started = time.monotonic()
    groups = plan_groups(settings, bases)
    planned = sum(g.want for g in groups)
    limit = settings.limit
    target = None if limit is None else settings.offset + limit
    dedupe = _Deduper(settings.dedupe)
    for group in groups:
        dedupe.parent(group.persona_name, group.base.text)
    accepted: list[tuple[int, GeneratedInput]] = []
    duplicates = 0
    # retries step by the configured variation_count, and a --limit beyond the plan continues
    # with further variation numbers (rounds): the sequence, and what earlier batches took from
    # it, never depends on --limit/--offset
    step = max(1, settings.variation_count)
    for gi, k in _deterministic_slots(groups, settings, lambda: len(accepted), target):
        if target is not None and len(accepted) >= target:
            break
        group = groups[gi]
        fn = _strategy_function(settings, group.strategy)
        for attempt in range(max_tries):
            number = k + attempt * step
            rng = derive_rng(
                settings.seed,
                group.strategy,
                group.base.index,
                group.persona_name,
                group.base.text,
                k=number,
            )
            text = fn(group.base.text, group.persona, rng, number)
            if dedupe.accept(group.persona_name, text):
                accepted.append(
                    (
                        gi,
                        GeneratedInput(
                            input=text,
                            persona=group.persona_name,
                            strategy=group.strategy,
                            base_index=group.base.index,
                            variation_index=number,
                            parent=group.base.text,
                            seed=settings.seed,
                            extras=group.base.extras,
                            source=group.base.source,
                        ),
                    )
                )
                break
            duplicates += 1
    chosen: dict[int, list[GeneratedInput]] = {}
    for gi, item in accepted[settings.offset :]:
        chosen.setdefault(gi, []).append(item)
    inputs = _file_order(chosen, groups)
    return GenerationResult(
        settings=settings,
        inputs=inputs,
        planned=planned if limit is None else min(planned, limit),
        groups=len(groups),
        duplicates=duplicates,
        duration_seconds=round(time.monotonic() - started, 3),
        offset=settings.offset,
        wanted=limit,
    )


# --------------------------------------------------------------------------------------------
# LLM


def build_prompt(settings: GenerationSettings, group: Group, count: int) -> Prompt:
    persona = group.persona
    instruction = settings.strategy_prompts.get(group.strategy)
    if instruction is None and group.strategy == "custom" and settings.custom_prompt:
        instruction = settings.custom_prompt
    if instruction is None:
        instruction = STRATEGY_DESCRIPTIONS.get(
            group.strategy, f"Apply the '{group.strategy}' transformation."
        )
    language = persona.language if persona is not None else ""
    fields = {
        "input": group.base.text,
        "strategy": group.strategy,
        "strategy_instruction": render_template(instruction, {"input": group.base.text}),
        "persona": persona.to_prompt() if persona else "(no specific persona: a typical user)",
        "persona_name": persona.name if persona else "",
        "persona_description": persona.description if persona else "",
        "goals": "; ".join(persona.goals) if persona else "",
        "characteristics": "; ".join(persona.characteristics) if persona else "",
        "expertise_level": persona.expertise_level if persona else "",
        "language": language,
        "language_hint": f" in language '{language}'" if language and language != "en" else "",
        "count": count,
    }
    template = settings.user_prompt_template or DEFAULT_USER_PROMPT
    user = (
        render_template(template, fields)
        if settings.user_prompt_template
        else template.format(**fields)
    )
    return Prompt(system=settings.system_prompt or DEFAULT_SYSTEM_PROMPT, user=user)


@dataclass
class _Ask:
    group_index: int
    numbers: list[int]


async def _ask_all(
    client: LLMClient,
    settings: GenerationSettings,
    groups: Sequence[Group],
    asks: Sequence[_Ask],
    on_done: Callable[[], None],
) -> list[tuple[_Ask, list[str] | None, str | None, Prompt]]:
    async def one(ask: _Ask) -> tuple[_Ask, list[str] | None, str | None, Prompt]:
        group = groups[ask.group_index]
        count = len(ask.numbers)
        prompt = build_prompt(settings, group, count)
        try:
            completion = await client.complete(
                [("system", prompt.system), ("human", prompt.user)],
                lambda content: parse_variations(content, count),
                repair=REPAIR_PROMPT,
            )
        except (MalformedOutput, LLMCallError) as exc:
            if isinstance(exc, LLMFatalError):
                raise
            return ask, None, str(exc), prompt
        finally:
            on_done()
        return ask, completion.value, None, prompt

    tasks = [asyncio.ensure_future(one(ask)) for ask in asks]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def asks_for(
    slots: Sequence[tuple[int, int]], exclude: set[tuple[int, int]] | None = None
) -> list[_Ask]:
    by_group: dict[int, _Ask] = {}
    for gi, k in slots:
        if exclude and (gi, k) in exclude:
            continue
        by_group.setdefault(gi, _Ask(gi, [])).numbers.append(k)
    return [by_group[gi] for gi in sorted(by_group)]


def generate_llm(
    settings: GenerationSettings,
    bases: Sequence[BaseInput],
    client: LLMClient,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> GenerationResult:
    started = time.monotonic()
    groups = extend_for_limit(plan_groups(settings, bases), settings)
    order = fair_order(groups, settings)[settings.offset :]
    limit = settings.limit
    first = order if limit is None else order[:limit]
    dedupe = _Deduper(settings.dedupe)
    for group in groups:
        dedupe.parent(group.persona_name, group.base.text)
    chosen: dict[int, list[GeneratedInput]] = {}
    skipped: list[dict[str, Any]] = []
    duplicates = 0
    total_calls = len(asks_for(first))
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if on_progress is not None:
            on_progress(done, total_calls)

    def collect(results: Sequence[tuple[_Ask, list[str] | None, str | None, Prompt]]) -> int:
        nonlocal duplicates
        accepted = 0
        for ask, texts, error, prompt in results:
            group = groups[ask.group_index]
            if texts is None:
                skipped.append(
                    {
                        "base_index": group.base.index,
                        "persona": group.persona_name,
                        "strategy": group.strategy,
                        "variations": len(ask.numbers),
                        "reason": error,
                    }
                )
                continue
            numbers = list(ask.numbers)
            for text in texts:
                if not numbers:
                    break
                if not dedupe.accept(group.persona_name, text):
                    duplicates += 1
                    continue
                chosen.setdefault(ask.group_index, []).append(
                    GeneratedInput(
                        input=text,
                        persona=group.persona_name,
                        strategy=group.strategy,
                        base_index=group.base.index,
                        variation_index=numbers.pop(0),
                        parent=group.base.text,
                        seed=settings.seed,
                        extras=group.base.extras,
                        source=group.base.source,
                        llm={
                            "provider": settings.llm.provider,
                            "model": settings.llm.model,
                            "prompt_hash": prompt.hash,
                        },
                    )
                )
                accepted += 1
        return accepted

    async def main() -> None:
        nonlocal total_calls
        if on_progress is not None:
            on_progress(0, total_calls)
        results = await _ask_all(client, settings, groups, asks_for(first), tick)
        got = collect(results)
        answered = any(texts is not None for _, texts, _, _ in results)
        if limit is not None and answered and got < limit and len(order) > len(first):
            # top up once with the next slots (replaces duplicates and skipped groups)
            extra = order[len(first) : len(first) + (limit - got)]
            asks = asks_for(extra)
            total_calls += len(asks)
            collect(await _ask_all(client, settings, groups, asks, tick))

    asyncio.run(main())
    inputs = _file_order(chosen, groups)
    if limit is not None:
        inputs = inputs[:limit] if len(inputs) > limit else inputs
    return GenerationResult(
        settings=settings,
        inputs=inputs,
        planned=len(first),
        groups=len(groups),
        duplicates=duplicates,
        skipped=skipped,
        usage=client.meter,
        duration_seconds=round(time.monotonic() - started, 3),
        offset=settings.offset,
        wanted=limit,
    )


def llm_client(settings: GenerationSettings) -> LLMClient:
    """The client of ``input_generation.llm``: its model, policy and on-disk cache."""
    cache = ResponseCache.in_dir(settings.cache_dir) if settings.cache_dir is not None else None
    return LLMClient.for_settings(
        settings.llm,
        where="input_generation.llm",
        role="generation",
        offline_hint="use --mode deterministic",
        cache=cache,
    )


def generate(
    settings: GenerationSettings,
    bases: Sequence[BaseInput],
    *,
    client: LLMClient | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> GenerationResult:
    if settings.mode == "deterministic":
        return generate_deterministic(settings, bases)
    if client is None:
        client = llm_client(settings)
    return generate_llm(settings, bases, client, on_progress=on_progress)


def relative_label(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)
