"""LLM mode: langchain-core fake chat models (a module:attr factory) and langchain-openai
against an OpenAI-compatible server on 127.0.0.1, through the real CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import openai_server
from .conftest import edit_yaml, fl, load_yaml

GENERATED = Path("inputs") / "generated.yaml"

FAKE_FACTORY = '''
"""Chat models for tests: langchain-core's fake models, chosen by FAKE_LLM."""
import json
import os

from langchain_core.language_models.fake_chat_models import FakeListChatModel


def _v(*items):
    return json.dumps({"variations": list(items)})


SCRIPTS = {
    # one reply per call, in call order (concurrency 1): JSON, fenced JSON, prose + JSON,
    # numbered lines, a list of objects, malformed then valid (re-asked)
    "lenient": [
        _v("start please"),
        "```json\\n" + _v("fenced variant") + "\\n```",
        "Sure! Here you go:\\n" + _v("prose variant") + "\\nHope it helps.",
        "1. numbered variant",
        json.dumps([{"input": "object variant"}]),
        '{"variations": ["truncated',
        _v("after a malformed reply"),
        _v("seven"),
        _v("eight"),
    ],
    "malformed": ['{"variations": [', "", "[1, 2"],
    "explode": ["{not json"],
}


def make_model(model=None, temperature=None):
    assert model == "fake-model", model
    return FakeListChatModel(responses=SCRIPTS[os.environ.get("FAKE_LLM", "lenient")])
'''


def _fake_project(project: Path, **llm: object) -> None:
    (project / "fake_llm.py").write_text(FAKE_FACTORY, encoding="utf-8")
    edit_yaml(
        project / "setting.yaml",
        input_generation={
            "mode": "llm",
            "strategies": ["rephrase", "verbose"],
            "llm": {
                "provider": "fake_llm:make_model",
                "model": "fake-model",
                "concurrency": 1,
                "retry_delay": 0.01,
                **llm,
            },
        },
    )


def test_fake_chat_model_lenient_parsing_retry_and_cache(project: Path) -> None:
    _fake_project(project)
    done = fl("generate", "inputs", cwd=project, env={"FAKE_LLM": "lenient"})
    assert done.returncode == 0, done.stderr
    data = load_yaml(project / GENERATED)
    texts = [e["input"] for e in data["inputs"]]
    assert texts[:1] == ["start please"]
    for expected in (
        "fenced variant",
        "prose variant",
        "numbered variant",
        "object variant",
        "after a malformed reply",
    ):
        assert expected in texts
    assert len(texts) == 8  # 2 base x 2 personas x 2 strategies
    usage = data["generation"]["usage"]
    assert usage["calls"] == 9 and usage["malformed_replies"] == 1
    assert data["generation"]["model"] == "fake-model"
    assert all(
        e["provider"] == "fake_llm:make_model" and len(e["prompt_hash"]) == 16
        for e in data["inputs"]
    )
    assert "tokens 0" in done.stderr and "malformed 1" in done.stderr

    # the same prompts again: every call is answered from the on-disk cache
    again = fl("generate", "inputs", "--overwrite", cwd=project, env={"FAKE_LLM": "explode"})
    assert again.returncode == 0, again.stderr
    cached = load_yaml(project / GENERATED)
    assert [e["input"] for e in cached["inputs"]] == texts
    assert cached["generation"]["usage"]["cached_calls"] == 8
    assert cached["generation"]["usage"]["calls"] == 0
    before = (project / GENERATED).read_bytes()
    # --no-cache goes to the model again (which now only answers garbage): exit 1, file kept
    fresh = fl(
        "generate", "inputs", "--overwrite", "--no-cache", cwd=project, env={"FAKE_LLM": "explode"}
    )
    assert fresh.returncode == 1
    assert (project / GENERATED).read_bytes() == before


def test_all_malformed_exits_1_with_the_reason_and_writes_nothing(project: Path) -> None:
    _fake_project(project, parse_retries=1)
    done = fl("generate", "inputs", "--limit", "2", cwd=project, env={"FAKE_LLM": "malformed"})
    assert done.returncode == 1
    assert "no inputs were generated (2 of 8 group(s) skipped)" in done.stderr
    assert "malformed reply after 2 attempt(s)" in done.stderr
    assert "was not written" in done.stderr
    assert not (project / GENERATED).exists()


def test_dry_run_shows_prompts_without_calling(project: Path) -> None:
    _fake_project(project)
    done = fl(
        "generate", "inputs", "--dry-run", "--limit", "3", cwd=project, env={"FAKE_LLM": "explode"}
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "--- system prompt ---" in out
    assert out.count("--- prompt ") == 3
    assert "Base input:\nHow do I get started?" in out
    assert "Persona: novice_user" in out and "Persona: expert_user" in out
    assert "Reply with JSON only" in out
    assert not (project / GENERATED).exists()


# --------------------------------------------------------------------------------------------
# langchain-openai against a local OpenAI-compatible server


@pytest.fixture
def server() -> Iterator[openai_server.FakeOpenAI]:
    state = openai_server.start()
    yield state
    openai_server.stop(state)


def _openai_project(project: Path, server: openai_server.FakeOpenAI, **llm: object) -> None:
    settings = {
        "provider": "openai",
        "model": "test-model",
        "base_url": server.base_url,
        "temperature": 0.3,
        "retry_delay": 0.01,
        "concurrency": 2,
        **llm,
    }
    edit_yaml(
        project / "setting.yaml",
        input_generation={"mode": "llm", "llm": settings},
        variation_strategies=["rephrase", "verbose", "error_prone"],
    )


def test_openai_compatible_server_429_retry_after_and_malformed(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    _openai_project(project, server)
    server.on(lambda p: True, ("429", 1))
    server.on("Strategy: verbose", ("malformed", "Sorry, I cannot do that."))
    done = fl("generate", "inputs", cwd=project, env={"OPENAI_API_KEY": "sk-test-env"})
    assert done.returncode == 0, done.stderr
    data = load_yaml(project / GENERATED)
    entries = data["inputs"]
    assert len(entries) == 12  # 2 base x 2 personas x 3 strategies
    assert "verbose #0 of How do I get started? by expert_user" in [e["input"] for e in entries]
    reqs = server.requests
    assert all(r.headers["authorization"] == "Bearer sk-test-env" for r in reqs)
    assert all(r.body["model"] == "test-model" and r.body["temperature"] == 0.3 for r in reqs)
    limited = next(i for i, r in enumerate(reqs) if r.status == 429)
    retry_of = reqs[limited].user
    later = next(r for r in reqs[limited + 1 :] if r.user == retry_of)
    assert later.at - reqs[limited].at >= 0.9  # Retry-After: 1 honoured
    usage = data["generation"]["usage"]
    assert usage["rate_limited"] == 1 and usage["retries"] == 1
    assert usage["malformed_replies"] == 1
    assert usage["calls"] == 13  # 12 groups + 1 re-ask
    assert usage["total_tokens"] == 13 * 18 and usage["prompt_tokens"] == 13 * 11
    assert data["generation"]["base_url"] == server.base_url
    assert "tokens 234 (prompt 143, completion 91)" in done.stderr
    # the runner reads the file
    run = fl("-q", "run", "experiment", cwd=project)
    assert run.returncode == 0, run.stderr


def test_key_from_dotenv_and_config_set_llm(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    _openai_project(project, server)
    setllm = fl(
        "config", "set-llm", "openai", "sk-from-set-llm", "--model", "test-model", cwd=project
    )
    assert setllm.returncode == 0, setllm.stderr
    done = fl("generate", "inputs", "--limit", "2", cwd=project)
    assert done.returncode == 0, done.stderr
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-from-set-llm"}
    # explicit argument beats .env
    server.requests.clear()
    over = fl(
        "generate", "inputs", "--limit", "1", "--overwrite", "--no-cache", "--llm-api-key",
        "sk-explicit", cwd=project,
    )  # fmt: skip
    assert over.returncode == 0, over.stderr
    assert {r.headers["authorization"] for r in server.requests} == {"Bearer sk-explicit"}


def test_missing_key_and_auth_failure_are_config_errors(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    edit_yaml(project / "setting.yaml", input_generation={"mode": "llm"})
    done = fl("generate", "inputs", cwd=project)
    assert done.returncode == 2
    assert "No API key found for openai" in done.stderr
    assert "fluxloop config set-llm openai" in done.stderr
    # --mode deterministic still works offline
    assert fl("generate", "inputs", "--mode", "deterministic", cwd=project).returncode == 0

    _openai_project(project, server)
    server.on(lambda p: True, *[("401",)] * 20)
    denied = fl("generate", "inputs", "--overwrite", cwd=project, env={"OPENAI_API_KEY": "sk-bad"})
    assert denied.returncode == 2
    assert "HTTP 401" in denied.stderr and "Traceback" not in denied.stderr


def test_server_errors_are_retried_then_skipped(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    _openai_project(project, server, max_retries=2, concurrency=3)
    server.on("How do I get started?", *[("500",)] * 100)
    done = fl("generate", "inputs", cwd=project, env={"OPENAI_API_KEY": "sk-x"})
    assert done.returncode == 0, done.stderr
    data = load_yaml(project / GENERATED)
    assert {e["base_index"] for e in data["inputs"]} == {1}
    skipped = data["generation"]["skipped_groups"]
    assert len(skipped) == 6 and all(
        "HTTP 500" in s["reason"] and "after 3 attempts" in s["reason"] for s in skipped
    )
    assert "6 group(s) skipped" in done.stderr
    # nothing at all -> exit 1, file untouched
    server.on(lambda p: True, *[("500",)] * 100)
    none = fl(
        "generate",
        "inputs",
        "--overwrite",
        "--no-cache",
        cwd=project,
        env={"OPENAI_API_KEY": "sk-x"},
    )
    assert none.returncode == 1
    assert "no inputs were generated" in none.stderr
    assert load_yaml(project / GENERATED) == data


def test_anthropic_provider_against_a_local_messages_api(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    base = server.base_url.removesuffix("/v1")
    edit_yaml(
        project / "setting.yaml",
        input_generation={
            "mode": "llm",
            "strategies": ["rephrase"],
            "llm": {"provider": "anthropic", "model": "claude-test", "base_url": base},
        },
    )
    server.on(lambda p: True, ("429", 0))
    done = fl("generate", "inputs", cwd=project, env={"ANTHROPIC_API_KEY": "sk-ant-test"})
    assert done.returncode == 0, done.stderr
    data = load_yaml(project / GENERATED)
    assert len(data["inputs"]) == 4
    assert data["generation"]["usage"]["rate_limited"] == 1
    assert data["generation"]["usage"]["total_tokens"] == 4 * 18
    keys = {r.headers.get("x-api-key") or r.headers.get("authorization") for r in server.requests}
    assert keys <= {"sk-ant-test", "Bearer sk-ant-test"} and keys


def test_anthropic_provider_needs_its_key(project: Path) -> None:
    edit_yaml(
        project / "setting.yaml",
        input_generation={"mode": "llm", "llm": {"provider": "anthropic"}},
    )
    done = fl("generate", "inputs", cwd=project)
    assert done.returncode == 2
    assert "No API key found for anthropic" in done.stderr
    assert "set ANTHROPIC_API_KEY" in done.stderr


def test_generation_metadata_is_json_serialisable(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    _openai_project(project, server)
    assert (
        fl(
            "generate", "inputs", "--limit", "3", cwd=project, env={"OPENAI_API_KEY": "k"}
        ).returncode
        == 0
    )
    meta = load_yaml(project / GENERATED)["generation"]
    json.dumps(meta)
    assert meta["mode"] == "llm" and meta["provider"] == "openai" and meta["total"] == 3
    assert "generated_at" in meta


def test_concurrency_is_bounded_and_duplicates_are_removed(
    project: Path, server: openai_server.FakeOpenAI
) -> None:
    _openai_project(project, server, concurrency=2)
    server.delay = 0.2
    # one group answers with its own base input, another repeats a third group's answer
    server.on(
        lambda p: "Strategy: rephrase" in p and "novice_user" in p and "started" in p,
        ("content", '{"variations": ["How do I get started?"]}'),
    )
    server.on(
        lambda p: "Strategy: verbose" in p and "novice_user" in p and "started" in p,
        ("content", '{"variations": ["error_prone #0 of How do I get started? by novice_user"]}'),
    )
    done = fl("generate", "inputs", cwd=project, env={"OPENAI_API_KEY": "k"})
    assert done.returncode == 0, done.stderr
    assert server.max_inflight == 2
    data = load_yaml(project / GENERATED)
    assert data["generation"]["duplicates_removed"] == 2
    assert len(data["inputs"]) == 10
    texts = [(e["persona"], e["input"].lower()) for e in data["inputs"]]
    assert len(set(texts)) == len(texts)
