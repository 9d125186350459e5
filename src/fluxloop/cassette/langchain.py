"""Recording and replaying langchain-core chat models (any provider, sync, async, streaming).

Every chat model implements some of ``_generate`` / ``_agenerate`` / ``_stream`` /
``_astream``; everything above them (``invoke``, ``stream``, ``batch``, callbacks, tracing, the
LLM cache) is shared code in ``BaseChatModel``. The cassette wraps those four methods where a
class defines them (``BaseChatModel``'s own async fallbacks included), for the classes that
exist when it is installed and, through ``__pydantic_init_subclass__``, for those defined
later. So a replayed call still goes through the model's callbacks: FluxLoop's LangChain spans
(model, tokens, tool calls) look the same as when it was recorded.

The request is the model's identifying parameters, the messages (without their random ids),
stop sequences and call keyword arguments (bound tools included), masked; the response is the
``ChatResult`` (or the streamed chunks with their time offsets) as langchain's own message
dicts. A langchain model's HTTP request is not recorded a second time underneath.
"""

from __future__ import annotations

import functools
import inspect
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import BaseMessage, message_to_dict, messages_from_dict
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from .normalize import last_message_text, mask, mask_text
from .tape import Call, Tape, active_tape, inside_call, wait_async, wait_sync

__all__ = ["install"]

_MARK = "__fluxloop_cassette__"
_METHODS = ("_generate", "_agenerate", "_stream", "_astream")
# BaseChatModel's own _generate and _stream only raise NotImplementedError; its _stream is
# also what "does this model stream?" is checked against, so it stays the original
_SKIP_BASE = ("_generate", "_stream")


def _plain(value: Any) -> Any:
    """``value`` as plain JSON data (objects by their dump or type name, never by address)."""

    def default(obj: Any) -> Any:
        dump = getattr(obj, "model_dump", None)
        if callable(dump):
            try:
                return dump()
            except Exception:
                pass
        if isinstance(obj, type):
            return f"{obj.__module__}.{obj.__qualname__}"
        secret = getattr(obj, "get_secret_value", None)
        if callable(secret):
            return "***"
        return f"<{type(obj).__name__}>"

    return json.loads(json.dumps(value, default=default, ensure_ascii=False))


def _message(message: BaseMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"type": message.type, "content": message.content}
    if getattr(message, "name", None):
        out["name"] = message.name
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        out["tool_calls"] = [
            {"name": c.get("name"), "args": c.get("args"), "id": c.get("id")} for c in tool_calls
        ]
    if getattr(message, "tool_call_id", None):
        out["tool_call_id"] = message.tool_call_id  # type: ignore[attr-defined]
    return out


def _model_label(model: Any) -> str | None:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    try:
        return str(model._llm_type)
    except Exception:
        return type(model).__name__


def _begin(
    tape: Tape, model: Any, messages: list[BaseMessage], stop: Any, kwargs: dict[str, Any]
) -> Call:
    try:
        params = dict(model._identifying_params)
    except Exception:
        params = {}
    request = _plain(  # masked by Tape.begin
        {
            "llm": type(model).__name__,
            "params": params,
            "messages": [_message(m) for m in messages],
            "stop": stop,
            "kwargs": kwargs,
        }
    )
    preview = mask_text(last_message_text([{"content": messages[-1].content}] if messages else []))
    return tape.begin("langchain", request, model=_model_label(model), preview=preview)


def _result_to(result: ChatResult) -> dict[str, Any]:
    generations = [
        {"message": message_to_dict(g.message), "generation_info": g.generation_info}
        for g in result.generations
    ]
    return {"result": mask(_plain({"generations": generations, "llm_output": result.llm_output}))}


def _result_from(entry: dict[str, Any]) -> ChatResult:
    data = entry["response"]["result"]
    generations = [
        ChatGeneration(
            message=messages_from_dict([g["message"]])[0], generation_info=g.get("generation_info")
        )
        for g in data["generations"]
    ]
    return ChatResult(generations=generations, llm_output=data.get("llm_output"))


def _chunk_to(chunk: ChatGenerationChunk) -> dict[str, Any]:
    return {"message": message_to_dict(chunk.message), "generation_info": chunk.generation_info}


def _chunks_from(entry: dict[str, Any]) -> list[tuple[float, ChatGenerationChunk]]:
    out = []
    for offset, data in entry["response"]["chunks"]:
        message = messages_from_dict([data["message"]])[0]
        out.append(
            (
                float(offset),
                ChatGenerationChunk(
                    message=message,  # type: ignore[arg-type]
                    generation_info=data.get("generation_info"),
                ),
            )
        )
    return out


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _wrap_generate(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _generate(
        self: Any, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        tape = active_tape()
        if tape is None:
            return original(self, messages, stop, run_manager, **kw)
        call = _begin(tape, self, messages, stop, kw)
        started = time.perf_counter()
        if call.entry is not None:
            wait_sync(tape, call.entry, started)
            return _result_from(call.entry)
        with inside_call():
            result = original(self, messages, stop, run_manager, **kw)
        tape.commit(call, _result_to(result), _elapsed_ms(started))
        return result

    return _generate


def _wrap_agenerate(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def _agenerate(
        self: Any, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        tape = active_tape()
        if tape is None:
            return await original(self, messages, stop, run_manager, **kw)
        call = _begin(tape, self, messages, stop, kw)
        started = time.perf_counter()
        if call.entry is not None:
            await wait_async(tape, call.entry, started)
            return _result_from(call.entry)
        with inside_call():
            result = await original(self, messages, stop, run_manager, **kw)
        tape.commit(call, _result_to(result), _elapsed_ms(started))
        return result

    return _agenerate


def _wrap_stream(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def _stream(
        self: Any, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Iterator[ChatGenerationChunk]:
        tape = active_tape()
        if tape is None:
            yield from original(self, messages, stop, run_manager, **kw)
            return
        call = _begin(tape, self, messages, stop, kw)
        started = time.perf_counter()
        if call.entry is not None:
            for offset, chunk in _chunks_from(call.entry):
                wait_sync(tape, call.entry, started, offset)
                if run_manager is not None:
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        recorded: list[list[Any]] = []
        # step the model's generator by hand so "inside a recorded call" covers its body
        # only, never the consumer's code between chunks
        iterator = iter(original(self, messages, stop, run_manager, **kw))
        while True:
            with inside_call():
                try:
                    chunk = next(iterator)
                except StopIteration:
                    break
            recorded.append([round(_elapsed_ms(started), 3), _chunk_to(chunk)])
            yield chunk
        tape.commit(call, {"chunks": mask(_plain(recorded))}, _elapsed_ms(started))

    return _stream


def _wrap_astream(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def _astream(
        self: Any, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> AsyncIterator[ChatGenerationChunk]:
        tape = active_tape()
        if tape is None:
            async for chunk in original(self, messages, stop, run_manager, **kw):
                yield chunk
            return
        call = _begin(tape, self, messages, stop, kw)
        started = time.perf_counter()
        if call.entry is not None:
            for offset, chunk in _chunks_from(call.entry):
                await wait_async(tape, call.entry, started, offset)
                if run_manager is not None:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        recorded: list[list[Any]] = []
        iterator = original(self, messages, stop, run_manager, **kw).__aiter__()
        while True:
            with inside_call():
                try:
                    chunk = await iterator.__anext__()
                except StopAsyncIteration:
                    break
            recorded.append([round(_elapsed_ms(started), 3), _chunk_to(chunk)])
            yield chunk
        tape.commit(call, {"chunks": mask(_plain(recorded))}, _elapsed_ms(started))

    return _astream


_WRAPPERS: dict[str, Callable[[Callable[..., Any]], Callable[..., Any]]] = {
    "_generate": _wrap_generate,
    "_agenerate": _wrap_agenerate,
    "_stream": _wrap_stream,
    "_astream": _wrap_astream,
}


def _wrap_class(cls: type) -> None:
    for name in _METHODS:
        if cls is BaseChatModel and name in _SKIP_BASE:
            continue
        method = cls.__dict__.get(name)
        if method is None or not callable(method) or getattr(method, _MARK, False):
            continue
        wrapped = _WRAPPERS[name](method)
        setattr(wrapped, _MARK, True)
        setattr(cls, name, wrapped)


def _all_subclasses(cls: type) -> Iterator[type]:
    seen: set[type] = set()
    stack = [cls]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        yield current
        stack.extend(current.__subclasses__())


_installed = False


def install() -> None:
    """Wrap every chat model class, now and as new ones are defined (idempotent)."""
    global _installed
    if _installed:
        return
    _installed = True
    for cls in _all_subclasses(BaseChatModel):
        _wrap_class(cls)
    previous = inspect.getattr_static(BaseChatModel, "__pydantic_init_subclass__")
    previous_func = getattr(previous, "__func__", previous)

    def __pydantic_init_subclass__(cls: type, /, **kwargs: Any) -> None:
        previous_func(cls, **kwargs)
        _wrap_class(cls)

    BaseChatModel.__pydantic_init_subclass__ = classmethod(__pydantic_init_subclass__)  # type: ignore[assignment,method-assign]


def is_wrapped(cls: type) -> bool:
    """True when ``cls``'s own model methods are wrapped (for tests)."""
    return all(
        getattr(cls.__dict__[name], _MARK, False) for name in _METHODS if name in cls.__dict__
    ) and not (cls is BaseChatModel and getattr(cls.__dict__["_stream"], _MARK, False))
