"""No secret in any artifact or printed line: a whole experiment with planted secrets.

record (SDK) -> record enable -> config set-llm -> generate -> run (with failures) -> parse ->
evaluate -> compare -> config show/env/validate -> status -> collector (OTLP + the original
API) -> import otlp, every step a real ``fluxloop`` subprocess. Then every file under the
project (except the ones this test wrote as input: the config, the agent, the OTLP file and the
``.env`` files, which exist to hold keys and must be mode 0600) and every line any step printed
is searched for every planted secret: zero hits.

``PLANTED`` is the list of secret kinds. A new writer that forgets masking makes this test fail
as soon as it writes one of them; a new kind of secret is one more entry here.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.cli_process import clean_env, fl
from tests.collector.conftest import start_collector
from tests.collector.helpers import post_json

#: kind -> planted value (each unique, so a hit names the kind that leaked)
PLANTED: dict[str, str] = {
    "openai_key_in_text": "sk-proj-Planted0penAIKey7f3a9c2e1d4b",
    "anthropic_key_as_llm_key": "sk-ant-api03-PlantedAnthropicKey5e8d7c6b5a",
    "aws_access_key_in_exception": "AKIAPLANTEDAWSKEY042",
    "github_token_in_text": "ghp_PlantedGitHubToken0123456789abcdefABCD",
    "jwt_under_neutral_env_name": (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwbGFudGVkLXVzZXIifQ"
        ".UGxhbnRlZFNpZ25hdHVyZTAwMQ"
    ),
    "bearer_token_in_header_text": "PlantedBearerTok3n9f8e7d6c5b4a3",
    "password_metadata_field": "planted-metadata-password-0101",
    "authorization_metadata_field": "planted-authz-basic-0202",
    "api_key_argument": "planted-api-key-argument-0303",
    "url_userinfo_password": "PlantedUrlPassw0rd0404",
    "url_query_token": "PlantedQueryTok3n0505",
    "otlp_db_password_attribute": "planted-otlp-db-password-0606",
    "otlp_api_key_attribute": "planted-otlp-api-key-0707",
    "legacy_api_password_metadata": "planted-legacy-password-0808",
}
P = PLANTED

DATABASE_URL = (
    f"postgresql://app:{P['url_userinfo_password']}@db.internal:5432/prod"
    f"?sslmode=require&token={P['url_query_token']}"
)

SETTING = f"""
name: secret_probe
runner:
  target: "agent:run"
  working_directory: "."
  timeout_seconds: 30
  environment_vars:
    SESSION_BLOB: "{P["jwt_under_neutral_env_name"]}"
    DATABASE_URL: "{DATABASE_URL}"
    UPSTREAM_KEY: "{P["aws_access_key_in_exception"]}"
    SERVICE_API_KEY: "{P["api_key_argument"]}"
    AUTH_HEADER: "Bearer {P["bearer_token_in_header_text"]}"
base_inputs:
  - input: "Summarise my account, key {P["openai_key_in_text"]}, repo {P["github_token_in_text"]}"
    metadata:
      password: "{P["password_metadata_field"]}"
      authorization: "Basic {P["authorization_metadata_field"]}"
  - input: "please fail now"
    metadata:
      password: "{P["password_metadata_field"]}"
personas:
  - name: tester
    description: A careful tester
iterations: 1
output_directory: experiments
success_threshold: 0.0
evaluators:
  - name: basics
    type: rule_based
    rules:
      - check: output_not_empty
      - check: success
"""

AGENT = """
import logging
import os

import fluxloop

log = logging.getLogger("probe.agent")


@fluxloop.tool()
def lookup(query: str, api_key: str) -> dict:
    return {"rows": 1, "api_key": api_key, "dsn": os.environ["DATABASE_URL"]}


@fluxloop.agent()
def run(input: str, conversation_metadata=None) -> str:
    lookup(input, api_key=os.environ["SERVICE_API_KEY"])
    print("agent connects to " + os.environ["DATABASE_URL"])
    log.warning("agent sends %s", os.environ["AUTH_HEADER"])
    if "fail" in input:
        raise RuntimeError(
            "upstream rejected " + os.environ["UPSTREAM_KEY"] + " for session "
            + os.environ["SESSION_BLOB"] + " at " + os.environ["DATABASE_URL"]
        )
    return "Answer to: " + input + " via " + os.environ["DATABASE_URL"] + " with " + os.environ["AUTH_HEADER"]
"""

RECORDER = f"""
import os

import fluxloop

fluxloop.configure(
    record_args=True,
    recording_file="recordings/args.jsonl",
    storage="file",
    base_path="sdk_traces",
)
fluxloop.record_call_args(
    target="agent:run",
    input="hello",
    api_key="{P["api_key_argument"]}",
    headers={{"Authorization": "Bearer {P["bearer_token_in_header_text"]}"}},
    note="key {P["openai_key_in_text"]} dsn {DATABASE_URL}",
)


@fluxloop.agent()
def failing(x):
    raise RuntimeError("key " + os.environ["OPENAI_API_KEY"] + " url " + "{DATABASE_URL}")


try:
    failing(1)
except RuntimeError:
    pass
fluxloop.flush()
"""


def _otlp_body() -> dict[str, object]:
    def attrs(mapping: dict[str, str]) -> list[dict[str, object]]:
        return [{"key": k, "value": {"stringValue": v}} for k, v in mapping.items()]

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs({"service.name": "third-party"})},
                "scopeSpans": [
                    {
                        "scope": {"name": "other"},
                        "spans": [
                            {
                                "traceId": "7b8efff798038103d269b633813fc60c",
                                "spanId": "7000000000000001",
                                "name": "query",
                                "kind": 3,
                                "startTimeUnixNano": "1767225600000000000",
                                "endTimeUnixNano": "1767225601000000000",
                                "attributes": attrs(
                                    {
                                        "db.password": P["otlp_db_password_attribute"],
                                        "api_key": P["otlp_api_key_attribute"],
                                        "db.connection_string": DATABASE_URL,
                                        "gen_ai.prompt": f"use {P['openai_key_in_text']}",
                                        "http.request.header.authorization": (
                                            f"Bearer {P['bearer_token_in_header_text']}"
                                        ),
                                    }
                                ),
                                "events": [
                                    {
                                        "name": "exception",
                                        "timeUnixNano": "1767225600500000000",
                                        "attributes": attrs(
                                            {
                                                "exception.type": "RuntimeError",
                                                "exception.message": (
                                                    f"bad {P['aws_access_key_in_exception']}"
                                                ),
                                            }
                                        ),
                                    }
                                ],
                                "status": {
                                    "code": 2,
                                    "message": f"session {P['jwt_under_neutral_env_name']}",
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }


class Printed:
    """Everything the steps printed, by step."""

    def __init__(self) -> None:
        self.streams: dict[str, str] = {}

    def add(self, step: str, proc: subprocess.CompletedProcess[str]) -> None:
        self.streams[f"{step} (stdout)"] = proc.stdout
        self.streams[f"{step} (stderr)"] = proc.stderr


def _scan(root: Path, sources: set[Path], printed: Printed) -> tuple[int, list[str]]:
    files = 0
    hits: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path in sources or path.name == ".env":
            continue
        files += 1
        data = path.read_bytes()
        for kind, secret in PLANTED.items():
            if secret.encode() in data:
                hits.append(f"{path.relative_to(root)}: {kind}")
    for step, text in printed.streams.items():
        for kind, secret in PLANTED.items():
            if secret in text:
                hits.append(f"printed by {step}: {kind}")
    return files, hits


def _only_dir(parent: Path, prefix: str) -> Path:
    (found,) = [p for p in parent.iterdir() if p.is_dir() and p.name.startswith(prefix)]
    return found


def test_no_planted_secret_reaches_any_artifact_or_printed_line(tmp_path: Path) -> None:
    project = tmp_path / "probe"
    project.mkdir()
    sources = {
        project / "setting.yaml",
        project / "agent.py",
        project / "record_args.py",
        tmp_path / "otlp.jsonl",
    }
    (project / "setting.yaml").write_text(SETTING)
    (project / "agent.py").write_text(AGENT)
    (project / "record_args.py").write_text(RECORDER)
    printed = Printed()

    def step(name: str, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        proc = fl(*args, cwd=project, timeout=300)
        printed.add(name, proc)
        assert proc.returncode in ok, f"{name}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc

    # record: the SDK's recording and its own trace files (an exception carrying a key)
    recorded = subprocess.run(
        [sys.executable, "record_args.py"],
        cwd=project,
        env=clean_env({"OPENAI_API_KEY": P["openai_key_in_text"]}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    printed.add("record_args.py", recorded)
    assert recorded.returncode == 0, recorded.stderr
    step("record enable", "record", "enable", "--no-replay")
    step("config set-llm", "config", "set-llm", "anthropic", P["anthropic_key_as_llm_key"])

    step("generate", "generate", "inputs", "--mode", "deterministic", "--limit", "4")
    run_args = ("run", "experiment", "--inputs", "inputs/generated.yaml", "--no-collector")
    step("run A", *run_args, "--name", "first", ok=(0, 1))
    step("run B", *run_args, "--name", "second", ok=(0, 1))
    first = _only_dir(project / "experiments", "first_")
    second = _only_dir(project / "experiments", "second_")
    assert json.loads((first / "errors.json").read_text()), "the failing input must fail"

    step("parse", "parse", "experiment", str(first))
    step("evaluate A", "evaluate", "experiment", str(first), "--no-llm", ok=(0, 1))
    step("evaluate B", "evaluate", "experiment", str(second), "--no-llm", ok=(0, 1))
    step("compare", "compare", str(first), str(second), ok=(0, 1))
    step("compare md", "compare", str(first), str(second), "-f", "markdown", ok=(0, 1))
    step("config show", "config", "show")
    step("config env", "config", "env")
    step("config validate", "config", "validate", "--no-import", ok=(0, 1, 2))
    step("status experiments", "status", "experiments")
    step("status check", "status", "check", ok=(0, 1))
    step("run single", "run", "single", "agent:run", "please fail now", ok=(0, 1, 2))

    # the collector: third-party OTLP and the original SDK's API
    collector = start_collector(project / "collected", grpc_port=0)
    try:
        status, _ = post_json(collector.url + "/v1/traces", _otlp_body())
        assert status == 200
        status, _ = post_json(
            collector.url + "/api/traces",
            {
                "id": "00000000-0000-0000-0000-00000000c001",
                "name": "legacy",
                "start_time": "2026-03-04T10:00:00+00:00",
                "metadata": {"password": P["legacy_api_password_metadata"]},
                "input": {"api_key": P["api_key_argument"], "text": P["openai_key_in_text"]},
            },
        )
        assert status == 201
    finally:
        assert collector.stop() == 0
        out, err = collector.proc.communicate()
        printed.streams["collector (stdout)"] = out.decode()
        printed.streams["collector (stderr)"] = err.decode()

    (tmp_path / "otlp.jsonl").write_text(json.dumps(_otlp_body()) + "\n")
    step("import otlp", "import", "otlp", str(tmp_path / "otlp.jsonl"), "--output", "imported")

    # every artifact kind was really written (so the scan below means something)
    for expected in (
        project / "recordings" / "args.jsonl",
        project / "inputs" / "generated.yaml",
        first / "trace_summary.jsonl",
        first / "observations.jsonl",
        first / "errors.json",
        first / "config.yaml",
        first / "summary.json",
        first / "per_trace_analysis",
        first / "evaluation" / "summary.json",
        first / "evaluation" / "report.html",
        first / "evaluation" / "junit.xml",
    ):
        assert expected.exists(), expected
    assert list((project / "sdk_traces").glob("observations_*.jsonl"))
    assert list((project / "collected").glob("observations_*.jsonl"))
    assert list((project / "imported").glob("observations_*.jsonl"))

    # .env files FluxLoop wrote are private
    for env_file in project.rglob(".env"):
        assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600, env_file

    files, hits = _scan(tmp_path, sources, printed)
    print(
        f"\nsecret scan: {files} files and {len(printed.streams)} printed streams, "
        f"{len(PLANTED)} planted kinds, {len(hits)} hits"
    )
    assert files >= 30
    assert hits == [], f"{len(hits)} leak(s) in {files} files:\n" + "\n".join(hits)


def test_planted_kinds_cover_every_rule() -> None:
    """Each kind exercises a different rule; keep them distinct so a hit names the rule."""
    assert len(set(PLANTED.values())) == len(PLANTED)
    assert textwrap.dedent(SETTING).count("{") == 0  # every placeholder was filled


def test_show_values_is_the_one_explicit_exception(tmp_path: Path) -> None:
    """``config env`` masks a key (one display form); ``--show-values`` is asked for: shown."""
    key = P["openai_key_in_text"]
    (tmp_path / ".env").write_text(f"OPENAI_API_KEY={key}\n")
    masked = fl("config", "env", cwd=tmp_path)
    assert masked.returncode == 0, masked.stderr
    assert key not in masked.stdout and "****" + key[-4:] in masked.stdout
    shown = fl("config", "env", "--show-values", cwd=tmp_path)
    assert key in shown.stdout


def test_reports_are_masked_even_when_the_directory_is_not(tmp_path: Path) -> None:
    """parse / evaluate / compare mask what they read: a directory written raw (an older
    FluxLoop, ``collector serve --no-mask``) still gives masked reports."""
    project = tmp_path / "raw"
    project.mkdir()
    (project / "agent.py").write_text("def run(input):\n    return 'ok ' + input\n")
    (project / "setting.yaml").write_text(
        'name: raw\nrunner:\n  target: "agent:run"\nbase_inputs:\n  - input: "hello"\n'
        "iterations: 1\noutput_directory: experiments\n"
    )
    done = fl("run", "experiment", "--no-collector", cwd=project)
    assert done.returncode == 0, done.stderr
    experiment = _only_dir(project / "experiments", "raw_")
    summary_file = experiment / "trace_summary.jsonl"
    line = json.loads(summary_file.read_text())
    secret = P["openai_key_in_text"]
    line["output"] = f"ok {secret}"  # what an unmasked writer leaves behind
    line["input"] = {"text": "hello", "password": P["password_metadata_field"]}
    summary_file.write_text(json.dumps(line) + "\n")
    printed = Printed()
    for name, args in (
        ("parse", ("parse", "experiment", str(experiment))),
        ("evaluate", ("evaluate", "experiment", str(experiment), "--no-llm")),
        ("compare", ("compare", str(experiment), str(experiment), "-f", "markdown")),
    ):
        proc = fl(*args, cwd=project)
        printed.add(name, proc)
        assert proc.returncode in (0, 1), f"{name}: {proc.stderr}"
    written = [experiment / "per_trace_analysis", experiment / "evaluation"]
    assert all(path.exists() for path in written)
    sources = {summary_file}
    _, hits = _scan(experiment, sources, printed)
    assert hits == []
