"""The context API of the seeds: get_current_context, push/pop (Pattern A), Pattern B, instrument."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable
from typing import Any

from fluxloop_exporters import encode_observation, encode_trace
from fluxloop_semconv import attributes as attr

import fluxloop
from fluxloop import get_current_context
from fluxloop.models import ObservationData, ObservationType

from .conftest import Exported, parent_of, span_id


def test_no_context_outside_a_trace() -> None:
    assert fluxloop.get_current_context() is None
    assert fluxloop.get_current_trace() is None


def test_pattern_a_manual_push_pop_creates_real_spans(exported: Exported) -> None:
    async def my_tool(param: str) -> dict[str, Any]:
        fl_ctx = get_current_context()
        obs = None
        if fl_ctx and fl_ctx.is_enabled():
            obs = ObservationData(
                type=ObservationType.TOOL, name="my_tool", input={"args": {"param": param}}
            )
            fl_ctx.push_observation(obs)
        try:
            result = {"echo": param}
            if obs:
                obs.output = result
            return result
        finally:
            if fl_ctx and obs:
                fl_ctx.pop_observation()

    @fluxloop.agent
    async def run() -> dict[str, Any]:
        return await my_tool("x")

    assert asyncio.run(run()) == {"echo": "x"}
    tool = exported.named("execute_tool my_tool")
    root = exported.named("invoke_agent run")
    assert parent_of(tool) == span_id(root)
    record = encode_observation(tool)
    assert record["type"] == "tool"
    assert record["input"] == {"args": {"param": "x"}} and record["output"] == {"echo": "x"}


def test_pattern_b_framework_decorator_outermost(exported: Exported) -> None:
    def framework_tool_decorator(**options: Any) -> Callable[[Any], Any]:
        def wrap(func: Any) -> Any:
            @functools.wraps(func)
            async def inner(*args: Any, **kwargs: Any) -> Any:
                return {"framework": options["label"], "value": await func(*args, **kwargs)}

            return inner

        return wrap

    @framework_tool_decorator(label="fw")
    @fluxloop.tool(name="my_tool")
    async def my_tool(q: str) -> str:
        return q.upper()

    @fluxloop.agent
    async def run() -> Any:
        return await my_tool("hi")

    assert asyncio.run(run()) == {"framework": "fw", "value": "HI"}
    assert parent_of(exported.named("execute_tool my_tool")) == span_id(
        exported.named("invoke_agent run")
    )


def test_instrument_sets_trace_attributes_and_context_helpers(exported: Exported) -> None:
    @fluxloop.agent
    def run() -> str:
        ctx = fluxloop.get_current_context()
        assert ctx is not None
        ctx.add_metadata("region", "eu")
        ctx.add_tag("beta")
        ctx.set_user("user-7")
        trace = fluxloop.get_current_trace()
        assert trace is not None and trace.session_id == "sess-1"
        return "ok"

    with fluxloop.instrument(
        "checkout", session_id="sess-1", tags=["web"], metadata={"v": 2}
    ) as ctx:
        assert ctx is not None and ctx.trace.name == "checkout"
        run()
    root = exported.named("checkout")
    record = encode_trace(root)
    assert record is not None
    assert record["name"] == "checkout"
    assert record["session_id"] == "sess-1" and record["user_id"] == "user-7"
    assert record["metadata"] == {"v": 2, "region": "eu"}
    assert record["tags"] == ["web", "beta"]
    assert record["status"] == "success"


def test_instrument_as_decorator_and_error(exported: Exported) -> None:
    @fluxloop.instrument("job")
    def job() -> None:
        raise RuntimeError("nope")

    try:
        job()
    except RuntimeError:
        pass
    record = encode_trace(exported.named("job"))
    assert record is not None and record["status"] == "error"


def test_event_is_a_zero_duration_child(exported: Exported) -> None:
    @fluxloop.agent
    def run() -> None:
        fluxloop.event("cache_miss", key="k1")

    run()
    ev = exported.named("cache_miss")
    assert ev.start_time == ev.end_time
    assert parent_of(ev) == span_id(exported.named("invoke_agent run"))
    assert json.loads(str((ev.attributes or {})[attr.FLUXLOOP_METADATA])) == {"key": "k1"}
    assert encode_observation(ev)["type"] == "event"
