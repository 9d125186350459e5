"""Replay in ``run experiment``: recorded kwargs, new content, restored callbacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fluxloop.errors import ConfigError, InputError
from fluxloop.project.config import load_config
from fluxloop.runner.replay import RecordingNotFoundError, load_replay

from .conftest import Project, read_lines, run_lines

HANDLER = """
import inspect

class MessageHandler:
    async def handle_message(
        self, connection_id, data, user_connection, send_message_callback, send_error_callback
    ):
        if data.content == "fail":
            await send_error_callback({"error": "nope"})
            return
        await send_message_callback(
            {"type": "reply", "content": "echo:" + data["content"], "conn": connection_id,
             "token": user_connection.get("token"),
             "echo_rev": (user_connection.get("token") or "")[::-1],
             "async_send": inspect.iscoroutinefunction(send_message_callback)}
        )
"""

TARGET_ATTR = "MessageHandler.handle_message"


def call(content: str = "orig", conn: str = "c0", **extra: Any) -> dict[str, Any]:
    return {
        "connection_id": conn,
        "data": {"content": content, "conversationId": "conv-1"},
        "user_connection": {"user_id": "u1", "token": "***"},
        "send_message_callback": "<callable:send_message:async>",
        "send_error_callback": "<callable:send_error>",
        **extra,
    }


def setup(
    project: Project,
    *calls: dict[str, Any],
    inputs: list[Any] | None = None,
    replay: dict[str, Any] | None = None,
    handler: str = HANDLER,
    **top: Any,
) -> str:
    mod = project.agent(handler)
    target = f"{mod}:{TARGET_ATTR}"
    project.recording(
        "recordings/args.jsonl", *({"target": target, "kwargs": c} for c in (calls or [call()]))
    )
    project.config(
        {
            "name": "replay",
            "runner": {"target": target, "working_directory": "."},
            "replay_args": {
                "enabled": True,
                "recording_file": "recordings/args.jsonl",
                "callable_providers": {
                    "send_message_callback": "builtin:collector.send",
                    "send_error_callback": "builtin:collector.error",
                },
                "override_param_path": "data.content",
                **(replay or {}),
            },
            "base_inputs": inputs if inputs is not None else ["hello"],
            "output_directory": "out",
            **top,
        }
    )
    return target


def outputs(outcome: Any) -> list[Any]:
    return [json.loads(line["output"]) for line in run_lines(outcome)]


# -- the basics ----------------------------------------------------------------------------------


def test_replays_with_new_content_and_captures_callbacks(project: Project) -> None:
    setup(project, inputs=["hello", "fail"], success_threshold=0.5)
    outcome = project.run()
    ok, bad = run_lines(outcome)
    assert json.loads(ok["output"]) == {
        "type": "reply",
        "content": "echo:hello",
        "conn": "c0",
        "token": "***",
        "echo_rev": "***",  # what the agent got: the recorded "***", reversed
        "async_send": True,  # the recorded marker was :async
    }
    assert ok["callback_messages"]["send"][0]["content"] == "echo:hello"
    assert ok["callback_messages"]["by_parameter"]["send_message_callback"][0]["conn"] == "c0"
    assert ok["replay"]["recording_index"] == 0 and ok["replay"]["recording_line"] == 1
    assert ok["replay"]["masked"] == ["user_connection.token"]
    assert not bad["success"] and "error callback" in bad["error"]["message"]
    assert bad["callback_messages"]["error"] == [{"error": "nope"}]
    # every callback call is an event span in the run's trace
    observations = read_lines(outcome.directory / "observations.jsonl")
    events = [o for o in observations if o["name"] == "send_message_callback"]
    assert len(events) == 1 and events[0]["type"] == "event"
    assert events[0]["trace_id"] == ok["trace_id"]


def test_custom_parameter_names_and_several_messages(project: Project) -> None:
    handler = """
def handle(session, payload, emit, on_done=None):
    for word in payload["text"].split():
        emit({"delta": word + " "})
    on_done({"status": "finished"})
"""
    mod = project.agent(handler)
    project.recording(
        "rec.jsonl",
        {
            "kwargs": {
                "session": {"id": "s1"},
                "payload": {"text": "old words"},
                "emit": "<callable:emit>",
                "on_done": "<callable:done>",
            }
        },
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "payload.text",
                "callable_providers": {
                    "emit": "builtin:collector.send",
                    "on_done": "builtin:collector.send",
                },
            },
            "base_inputs": ["new words here"],
            "output_directory": "out",
        }
    )
    (line,) = run_lines(project.run())
    # one message without text: the output is the list of every message
    assert line["success"]
    assert json.loads(line["output"]) == [
        {"delta": "new "},
        {"delta": "words "},
        {"delta": "here "},
        {"status": "finished"},
    ]
    assert line["callback_messages"]["by_parameter"]["on_done"] == [{"status": "finished"}]


def test_text_chunks_join_into_the_output(project: Project) -> None:
    handler = """
async def handle(data, send):
    for part in ("Hel", "lo ", data["content"]):
        await send({"type": "chunk", "content": part})
"""
    mod = project.agent(handler)
    project.recording(
        "rec.jsonl", {"kwargs": {"data": {"content": "x"}, "send": "<callable:send:async>"}}
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"send": "builtin:collector.send"},
            },
            "base_inputs": ["world"],
            "output_directory": "out",
        }
    )
    (line,) = run_lines(project.run())
    assert line["output"] == "Hello world"


# -- which recorded calls -----------------------------------------------------------------------


def contents(outcome: Any) -> list[str]:
    return [json.loads(line["output"])["conn"] for line in run_lines(outcome)]


@pytest.mark.parametrize(
    ("use", "expected"),
    [
        (None, ["c2", "c2"]),
        ("last", ["c2", "c2"]),
        ("first", ["c0", "c0"]),
        (1, ["c1", "c1"]),
        ("-3", ["c0", "c0"]),
    ],
)
def test_use_chooses_one_recorded_call(project: Project, use: Any, expected: list[str]) -> None:
    replay = {} if use is None else {"use": use}
    setup(
        project, call(conn="c0"), call(conn="c1"), call(conn="c2"), inputs=["a", "b"], replay=replay
    )
    assert contents(project.run()) == expected


def test_use_all_cycles_through_the_calls(project: Project) -> None:
    setup(
        project,
        call(conn="c0"),
        call(conn="c1"),
        inputs=["a", "b", "c"],
        replay={"use": "all"},
        iterations=2,
    )
    # input i of iteration k replays call (i + k) mod N
    assert contents(project.run()) == ["c0", "c1", "c0", "c1", "c0", "c1"]


@pytest.mark.parametrize(
    ("use", "message"),
    [
        (5, r"replay_args\.use: call 5 is out of range \(recordings/args\.jsonl has 2 recorded "),
        ("middle", r"replay_args\.use: expected last, first, all or a call index"),
        (True, r"replay_args\.use: expected last, first, all or a call index"),
    ],
)
def test_bad_use_is_a_config_error(project: Project, use: Any, message: str) -> None:
    setup(project, call(), call(), replay={"use": use})
    with pytest.raises(ConfigError, match=message):
        project.run()
    assert not (project.root / "out").exists()


def test_inputs_naming_a_recorded_call_replay_into_it(project: Project) -> None:
    setup(
        project,
        call(conn="c0"),
        call(conn="c1"),
        call(conn="c2", data={"text": "no content here"}),
        inputs=[
            {"input": "a", "recording_index": 0},
            {"input": "b", "metadata": {"recording_index": 1}},
            {"input": "c"},
            {"input": "d", "recording_index": 2},  # cannot be replayed: no data.content
        ],
        replay={"use": 1},
    )
    # with an explicit single call, the inputs' indexes do not matter
    outcome = project.run()
    assert contents(outcome) == ["c1", "c1", "c1", "c1"]
    assert all("note" not in line["replay"] for line in run_lines(outcome))


def test_recording_index_with_the_default_choice(project: Project) -> None:
    setup(
        project,
        call(conn="c0"),
        call(conn="c1", data={"text": "no content here"}),
        call(conn="c2"),
        inputs=[
            {"input": "a", "recording_index": 0},
            {"input": "b"},
            {"input": "c", "recording_index": 1},
            {"input": "d", "recording_index": 9},
        ],
    )
    outcome = project.run()
    assert contents(outcome) == ["c0", "c2", "c2", "c2"]
    lines = run_lines(outcome)
    assert "cannot be replayed" in lines[2]["replay"]["note"]
    assert "no key 'content' in 'data'" in lines[2]["replay"]["note"]
    assert "no such call" in lines[3]["replay"]["note"]
    assert "note" not in lines[0]["replay"]


def test_calls_of_other_targets_are_left_out(project: Project) -> None:
    target = setup(project)
    project.write(
        "recordings/args.jsonl",
        "\n".join(
            json.dumps({"_version": "1", "target": t, "kwargs": call(conn=c)})
            for t, c in ((target, "mine0"), ("other:thing", "theirs"), (target, "mine1"))
        )
        + "\n",
    )
    config = load_config(project.root / "setting.yaml")
    plan = load_replay(config.replay, target)
    assert [c.kwargs["connection_id"] for c in plan.pool] == ["mine0", "mine1"]
    assert any("1 recorded call(s) for other targets left out" in n for n in plan.notes)
    assert contents(project.run()) == ["mine1"]


def test_target_mismatch_is_a_note(project: Project) -> None:
    setup(project)
    project.recording(
        "recordings/args.jsonl", {"target": "old.module:Handler.handle", "kwargs": call()}
    )
    config = load_config(project.root / "setting.yaml")
    plan = load_replay(config.replay, config.runner.target)
    assert plan.notes == [
        f"the recording was made for 'old.module:Handler.handle', replaying into "
        f"{config.runner.target!r}"
    ]


# -- override_param_path ------------------------------------------------------------------------


def test_override_path_with_list_indexes(project: Project) -> None:
    handler = """
def respond(item, send):
    send(item["content"][0]["text"] + "|" + item.content[1].text)
"""
    mod = project.agent(handler)
    project.recording(
        "rec.jsonl",
        {
            "kwargs": {
                "item": {"content": [{"text": "old"}, {"text": "keep"}]},
                "send": "<builtin:collector.send>",
            }
        },
    )
    project.config(
        {
            "runner": {"target": f"{mod}:respond"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "item.content.0.text",
                "callable_providers": {"send": "builtin:collector.send"},
            },
            "base_inputs": ["new"],
            "output_directory": "out",
        }
    )
    (line,) = run_lines(project.run())
    assert line["output"] == "new|keep"


def test_missing_override_path_names_the_path_and_the_keys(project: Project) -> None:
    setup(project, replay={"override_param_path": "data.message"})
    with pytest.raises(InputError) as info:
        project.run()
    assert str(info.value) == (
        "recordings/args.jsonl:1: override_param_path 'data.message': no key 'message' in "
        "'data' (keys: content, conversationId)"
    )
    assert info.value.exit_code == 2
    assert not (project.root / "out").exists()


def test_no_override_path_warns(project: Project) -> None:
    setup(project, replay={"override_param_path": None})
    config = load_config(project.root / "setting.yaml")
    plan = load_replay(config.replay, config.runner.target)
    assert any("override_param_path is not set" in w for w in plan.warnings)
    assert contents(project.run()) == ["c0"]


# -- callable providers -------------------------------------------------------------------------


def test_missing_provider_is_the_seeds_error(project: Project) -> None:
    handler = "def handle(data, custom_callback):\n    pass\n"
    mod = project.agent(handler)
    # a builtin marker is its own provider; the user's own callables need one
    project.recording(
        "recordings/args.jsonl",
        {"kwargs": {"data": {"content": "x"}, "custom_callback": "<callable:on_custom:async>"}},
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "recordings/args.jsonl",
                "override_param_path": "data.content",
            },
            "base_inputs": ["x"],
        }
    )
    with pytest.raises(
        ValueError,
        match=r"^Missing callable providers for recorded parameters: custom_callback "
        r"\(recorded as <callable:on_custom:async>\)",
    ):
        project.run()
    # the seeds' fix
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "recordings/args.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"custom_callback": "builtin:collector.send"},
            },
            "base_inputs": ["x"],
            "output_directory": "out",
        }
    )
    assert project.run().summary["results"]["successful"] == 1


def test_nested_markers_and_async_providers(project: Project) -> None:
    handler = """
import inspect

async def handle(data, hooks):
    assert inspect.iscoroutinefunction(hooks.on_message)
    assert not inspect.iscoroutinefunction(hooks.on_status)
    hooks.on_status("typing")
    await hooks.on_message("reply to " + data.content)
"""
    mod = project.agent(handler)
    project.recording(
        "rec.jsonl",
        {
            "kwargs": {
                "data": {"content": "x"},
                "hooks": {"on_message": "<callable:on_message>", "on_status": "<callable:st>"},
            }
        },
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {
                    "hooks.on_message": "builtin:collector.send:async",
                    "hooks": "builtin:collector.error",
                },
            },
            "base_inputs": ["hi"],
            "output_directory": "out",
            "success_threshold": 0,
        }
    )
    (line,) = run_lines(project.run())
    # hooks.on_status fell back to the provider of its parent key: an error collector
    assert line["callback_messages"]["by_parameter"] == {
        "hooks.on_status": ["typing"],
        "hooks.on_message": ["reply to hi"],
    }
    assert not line["success"] and "typing" in line["error"]["message"]


def test_user_providers_are_called_and_captured(project: Project) -> None:
    project.agent(
        """
SEEN = []

def deliver(message):
    SEEN.append(message)
    return "delivered"

async def adeliver(message):
    SEEN.append(("async", message))
""",
        module="my_sinks",
    )
    handler = """
async def handle(data, send, asend):
    assert send("a:" + data["content"]) == "delivered"
    await asend("b:" + data["content"])
"""
    mod = project.agent(handler)
    project.recording(
        "rec.jsonl",
        {"kwargs": {"data": {"content": "x"}, "send": "<callable:s>", "asend": "<callable:a>"}},
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"send": "my_sinks:deliver", "asend": "my_sinks:adeliver"},
            },
            "base_inputs": ["hi"],
            "output_directory": "out",
        }
    )
    (line,) = run_lines(project.run())
    import my_sinks  # type: ignore[import-not-found]

    assert my_sinks.SEEN == ["a:hi", ("async", "b:hi")]
    assert line["output"] == "a:hib:hi"  # text messages join like streamed chunks
    assert line["callback_messages"]["by_parameter"] == {"send": ["a:hi"], "asend": ["b:hi"]}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "builtin:collector.shout",
            r"expected builtin:collector\.send or builtin:collector\.error",
        ),
        ("nonexistent_mod_xyz:f", r"cannot load 'nonexistent_mod_xyz:f': ModuleNotFoundError"),
        ("justaname", r'expected "builtin:collector\.send", "builtin:collector\.error" or'),
        ("json:__name__", r"'json:__name__' is not callable"),
    ],
)
def test_bad_provider_specs(project: Project, spec: str, message: str) -> None:
    setup(
        project,
        replay={
            "callable_providers": {
                "send_message_callback": spec,
                "send_error_callback": "builtin:collector.error",
            }
        },
    )
    with pytest.raises(
        ConfigError, match=r"replay_args\.callable_providers\.send_message_callback: " + message
    ):
        project.run()


def test_provider_for_a_parameter_the_original_masked(project: Project) -> None:
    # the original SDK masked any key containing "auth": a callback named auth_callback too
    handler = """
def handle(data, auth_callback):
    auth_callback("ok " + data["content"])
"""
    mod = project.agent(handler)
    project.recording("rec.jsonl", {"kwargs": {"data": {"content": "x"}, "auth_callback": "***"}})
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"auth_callback": "builtin:collector.send"},
            },
            "base_inputs": ["hi"],
            "output_directory": "out",
        }
    )
    config = load_config(project.root / "setting.yaml")
    assert load_replay(config.replay, config.runner.target).warnings == []
    (line,) = run_lines(project.run())
    assert line["output"] == "ok hi"


# -- secrets -------------------------------------------------------------------------------------


def test_masked_values_are_filled_from_the_environment(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_TOKEN_ENV", "real-token")
    setup(project, replay={"secrets": {"user_connection.token": "MY_TOKEN_ENV"}})
    config = load_config(project.root / "setting.yaml")
    assert load_replay(config.replay, config.runner.target).warnings == []
    (line,) = run_lines(project.run())
    # the agent got the real value; the artifact shows it masked (by key)
    assert json.loads(line["output"])["echo_rev"] == "real-token"[::-1]
    assert json.loads(line["output"])["token"] == "***"
    assert line["replay"]["masked"] == []
    # the artifacts never hold the secret where it is masked by key
    assert "real-token" not in (line["callback_messages"]["send"][0].get("token", ""))


def test_secrets_from_the_project_dotenv(project: Project) -> None:
    setup(project, replay={"secrets": {"user_connection.token": "PROJECT_TOKEN"}})
    project.write(".env", "# secrets for replay\nPROJECT_TOKEN=from-dotenv\n")
    (line,) = run_lines(project.run())
    assert json.loads(line["output"])["echo_rev"] == "from-dotenv"[::-1]


def test_values_left_masked_are_named_in_a_warning(project: Project) -> None:
    setup(
        project,
        call(extra={"api_key": "***", "header": "Bearer ***"}),
        replay={"secrets": {"user_connection.token": "UNSET_TOKEN_VAR_XYZ"}},
        handler=HANDLER.replace(
            "send_error_callback\n    ):", "send_error_callback, extra\n    ):"
        ),
    )
    config = load_config(project.root / "setting.yaml")
    plan = load_replay(config.replay, config.runner.target)
    assert plan.warnings == [
        "replay_args.secrets.user_connection.token: environment variable UNSET_TOKEN_VAR_XYZ is "
        "not set; the recorded value stays masked",
        "3 recorded value(s) were masked when recorded and will be replayed as '***': "
        "extra.api_key, extra.header, user_connection.token (fill them from the environment "
        "with replay_args.secrets, e.g. extra.api_key: MY_ENV_VAR)",
    ]
    from fluxloop.runner.engine import RunOptions, run_experiment

    text = "\n".join(run_experiment(config, RunOptions(dry_run=True)).dry_run_lines)
    assert "Warning:      3 recorded value(s) were masked" in text
    assert "Replay:       recordings/args.jsonl (1 recorded call(s); last: line 1)" in text


def test_secret_path_missing_is_an_error(project: Project) -> None:
    setup(project, replay={"secrets": {"user_connection.tokn": "X"}})
    with pytest.raises(
        InputError,
        match=r"replay_args\.secrets\.user_connection\.tokn "
        r"'user_connection\.tokn': no key 'tokn' in 'user_connection' "
        r"\(keys: user_id, token\)",
    ):
        project.run()


# -- files and isolation -------------------------------------------------------------------------


def test_recording_file_not_found(project: Project) -> None:
    setup(project)
    (project.root / "recordings" / "args.jsonl").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"^Recording file not found: recordings/args\.jsonl"
    ):
        project.run()
    with pytest.raises(RecordingNotFoundError):
        project.run()


def test_recording_file_is_relative_to_the_project(
    project: Project, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    setup(project)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert contents(project.run()) == ["c0"]


def test_each_run_gets_a_fresh_copy(project: Project) -> None:
    handler = """
import asyncio

async def handle(data, send):
    data["seen"] = data.get("seen", 0) + 1
    data.setdefault("log", []).append(data.content)
    await asyncio.sleep(0.01)
    send({"seen": data["seen"], "log": data["log"]})
"""
    mod = project.agent(handler)
    project.recording("rec.jsonl", {"kwargs": {"data": {"content": "x"}, "send": "<callable:s>"}})
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"send": "builtin:collector.send"},
            },
            "base_inputs": ["a", "b", "c", "d"],
            "parallel_runs": 4,
            "output_directory": "out",
        }
    )
    outs = [json.loads(line["output"]) for line in run_lines(project.run())]
    assert outs == [{"seen": 1, "log": [x]} for x in "abcd"]


def test_replayed_calls_are_not_re_recorded(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = """
import fluxloop

def handle(data, send):
    fluxloop.record_call_args(target="x:handle", data=data, send=send)
    send(data["content"])
"""
    mod = project.agent(handler)
    rec = project.recording(
        "rec.jsonl", {"kwargs": {"data": {"content": "x"}, "send": "<callable:s>"}}
    )
    before = rec.read_text()
    monkeypatch.setenv("FLUXLOOP_RECORD_ARGS", "true")
    monkeypatch.setenv("FLUXLOOP_RECORDING_FILE", str(rec))
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"send": "builtin:collector.send"},
            },
            "base_inputs": ["a", "b"],
            "output_directory": "out",
        }
    )
    assert [line["output"] for line in run_lines(project.run())] == ["a", "b"]
    assert rec.read_text() == before


def test_sync_target_with_a_sync_builtin(project: Project) -> None:
    handler = """
def handle(data, send):
    result = send({"text": data.content})
    assert repr(result) == "None"
"""
    mod = project.agent(handler)
    project.recording(
        "rec.jsonl", {"kwargs": {"data": {"content": "x"}, "send": "<builtin:collector.send>"}}
    )
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"send": "builtin:collector.send"},
            },
            "base_inputs": ["hi"],
            "output_directory": "out",
        }
    )
    (line,) = run_lines(project.run())
    assert line["success"] and json.loads(line["output"]) == {"text": "hi"}


def test_callback_messages_are_bounded(project: Project) -> None:
    handler = """
def handle(data, send):
    for i in range(1500):
        send({"i": i, "pad": "x" * 1000})
"""
    mod = project.agent(handler)
    project.recording("rec.jsonl", {"kwargs": {"data": {"content": "x"}, "send": "<callable:s>"}})
    project.config(
        {
            "runner": {"target": f"{mod}:handle"},
            "replay_args": {
                "enabled": True,
                "recording_file": "rec.jsonl",
                "override_param_path": "data.content",
                "callable_providers": {"send": "builtin:collector.send"},
            },
            "base_inputs": ["hi"],
            "output_directory": "out",
        }
    )
    outcome = project.run()
    (line,) = run_lines(outcome)
    messages = line["callback_messages"]
    assert messages["dropped"] == 500  # past MAX_CALLBACK_MESSAGES
    kept = messages["send"]
    assert 200 < len(kept) < 300 and kept[-1].startswith("…(")
    assert messages["omitted"] > 0
    raw = (outcome.directory / "trace_summary.jsonl").read_bytes()
    assert len(raw) < 2_000_000


# -- the original's defaults -------------------------------------------------------------------


def test_no_callable_providers_uses_the_originals_defaults(project: Project) -> None:
    """The original defaulted send_message_callback / send_error_callback to the builtin
    collectors; a recorded <builtin:collector.*> marker names its own provider."""
    handler = HANDLER + (
        "\nasync def custom(data, on_reply, on_problem):\n"
        "    await on_reply({'content': 'custom:' + data.content})\n"
        "    on_problem('minor: ' + data.content)\n"
    )
    setup(project, inputs=["hello", "fail"], replay={"callable_providers": {}}, handler=handler)
    ok, bad = run_lines(project.run())
    assert json.loads(ok["output"])["content"] == "echo:hello"
    assert not bad["success"] and bad["callback_messages"]["error"] == [{"error": "nope"}]

    mod = project.agent(handler)
    project.recording(
        "recordings/custom.jsonl",
        {
            "target": f"{mod}:custom",
            "kwargs": {
                "data": {"content": "x"},
                "on_reply": "<builtin:collector.send:async>",
                "on_problem": "<builtin:collector.error>",
            },
        },
    )
    config = {
        "name": "custom",
        "runner": {"target": f"{mod}:custom"},
        "replay_args": {
            "enabled": True,
            "recording_file": "recordings/custom.jsonl",
            "override_param_path": "data.content",
        },
        "base_inputs": ["hi"],
        "output_directory": "out",
    }
    project.config(config)
    (failed,) = run_lines(project.run())
    assert not failed["success"]  # default: an error callback call fails the run
    assert failed["callback_messages"]["error"] == ["minor: hi"]
    config["replay_args"]["error_callback_fails_run"] = False  # type: ignore[index]
    project.config(config)
    (passed,) = run_lines(project.run())
    assert passed["success"] and json.loads(passed["output"]) == {"content": "custom:hi"}
    assert passed["callback_messages"]["error"] == ["minor: hi"]  # recorded either way
