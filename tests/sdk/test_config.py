"""configure(), the resolver's precedence, validation errors and the kill switches."""

from __future__ import annotations

from pathlib import Path

import pytest

import fluxloop
from fluxloop.errors import ConfigError
from fluxloop.sdk import is_true
from fluxloop.sdk._config import resolve
from fluxloop.sdk.envfile import read_dotenv

from .conftest import Exported


def test_precedence_argument_over_env_over_dotenv_over_default() -> None:
    env = {"FLUXLOOP_SAMPLE_RATE": "0.5", "FLUXLOOP_BASE_PATH": "/env/traces"}
    dotenv = {
        "FLUXLOOP_SAMPLE_RATE": "0.1",
        "FLUXLOOP_BATCH_SIZE": "7",
        "FLUXLOOP_BASE_PATH": "/file",
    }
    config = resolve({"base_path": "/arg"}, env, dotenv)
    assert config.base_path == Path("/arg")  # argument wins
    assert config.sample_rate == 0.5  # env beats .env
    assert config.batch_size == 7  # .env beats default
    assert config.flush_interval == 1.0  # default
    assert resolve({}, {}, {}).storage == "file"


def test_every_design_env_var_is_honoured() -> None:
    env = {
        "FLUXLOOP_STORAGE": "http",
        "FLUXLOOP_BASE_PATH": "/b",
        "FLUXLOOP_CAPTURE_CONTENT": "false",
        "FLUXLOOP_ENABLED": "true",
        "FLUXLOOP_DEBUG": "1",
        "FLUXLOOP_COLLECTOR_URL": "http://127.0.0.1:9",
        "FLUXLOOP_API_KEY": "secret-key-123",
        "FLUXLOOP_RECORD_ARGS": "yes",
        "FLUXLOOP_RECORDING_FILE": "/tmp/rec.jsonl",
        "FLUXLOOP_SAMPLE_RATE": "0.25",
        "FLUXLOOP_BATCH_SIZE": "10",
        "FLUXLOOP_FLUSH_INTERVAL": "5.0",
        "FLUXLOOP_SERVICE_NAME": "svc",
        "FLUXLOOP_ENVIRONMENT": "staging",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    c = resolve({}, env, {})
    assert (c.storage, c.base_path, c.capture_content, c.enabled, c.debug) == (
        "http",
        Path("/b"),
        False,
        True,
        True,
    )
    assert (c.collector_url, c.api_key, c.record_args, c.recording_file) == (
        "http://127.0.0.1:9",
        "secret-key-123",
        True,
        Path("/tmp/rec.jsonl"),
    )
    assert (c.sample_rate, c.batch_size, c.flush_interval) == (0.25, 10, 5.0)
    assert (c.service_name, c.environment, c.otlp_protocol) == ("svc", "staging", "grpc")
    assert resolve({}, {"OTEL_SERVICE_NAME": "otel-svc"}, {}).service_name == "otel-svc"
    assert resolve({}, {"OTEL_SDK_DISABLED": "true"}, {}).enabled is False
    assert (
        resolve(
            {}, {"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "NO_CONTENT"}, {}
        ).capture_content
        is False
    )
    assert "secret-key-123" not in str(c.masked())


@pytest.mark.parametrize(
    ("settings", "expected_fragment"),
    [
        ({"sample_rate": 1.5}, "sample_rate: expected a number between 0.0 and 1.0, found 1.5"),
        ({"storage": "s3"}, "storage: expected one of file, http, otlp, console, none, found 's3'"),
        ({"batch_size": 0}, "batch_size: expected an integer between 1 and 100, found 0"),
        ({"collector_url": "localhost:8000"}, "collector_url: expected an http:// or https:// URL"),
        ({"enabled": "maybe"}, "enabled: expected a boolean"),
        ({"redact": 3}, "redact: expected a callable"),
        ({"sample_rat": 0.5}, "did you mean 'sample_rate'?"),
    ],
)
def test_invalid_settings_raise_one_error_type_naming_key_expected_and_found(
    settings: dict[str, object], expected_fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        fluxloop.configure(**settings)
    assert expected_fragment in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(
        info.value, ValueError
    )  # the original raised ValueError; still catchable as such


def test_invalid_env_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="FLUXLOOP_SAMPLE_RATE: expected a number"):
        resolve({}, {"FLUXLOOP_SAMPLE_RATE": "lots"}, {})


def test_invalid_environment_never_breaks_decorated_code(
    exported: Exported, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    fluxloop.reset_config()
    monkeypatch.setenv("FLUXLOOP_SAMPLE_RATE", "not-a-number")
    monkeypatch.setenv("FLUXLOOP_STORAGE", "none")

    @fluxloop.agent
    def run() -> int:
        return 1

    assert run() == 1
    assert any("FLUXLOOP_SAMPLE_RATE" in r.getMessage() for r in caplog.records)


def test_legacy_keywords_of_the_original_sdk_are_accepted() -> None:
    config = resolve({"offline_store_dir": "/legacy", "use_collector": False}, {}, {})
    assert config.base_path == Path("/legacy") and config.storage == "file"


def test_read_dotenv_parses_comments_quotes_and_export(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text('# comment\nexport A=1\nB="two words"\nC=three # trailing\nbroken line\n\n')
    assert read_dotenv(env) == {"A": "1", "B": "two words", "C": "three"}
    assert read_dotenv(tmp_path / "missing") == {}


def test_load_env_does_not_override_real_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text(
        "FLUXLOOP_SERVICE_NAME=from-file\nFLUXLOOP_ENVIRONMENT=from-file\n"
    )
    monkeypatch.setenv("FLUXLOOP_SERVICE_NAME", "from-env")
    monkeypatch.delenv("FLUXLOOP_ENVIRONMENT", raising=False)
    values = fluxloop.load_env(tmp_path)
    assert values["FLUXLOOP_SERVICE_NAME"] == "from-file"
    import os

    assert os.environ["FLUXLOOP_SERVICE_NAME"] == "from-env"
    assert os.environ["FLUXLOOP_ENVIRONMENT"] == "from-file"
    monkeypatch.delenv("FLUXLOOP_ENVIRONMENT")


def test_configure_twice_does_not_stack_processors(exported: Exported, tmp_path: Path) -> None:
    fluxloop.configure(storage="file", base_path=tmp_path)
    fluxloop.configure(storage="file", base_path=tmp_path)

    @fluxloop.agent
    def run() -> str:
        return "x"

    run()
    assert fluxloop.flush()
    lines = [
        line for p in tmp_path.glob("observations_*.jsonl") for line in p.read_text().splitlines()
    ]
    assert len(lines) == 1
    assert len(exported.spans) == 1


def test_sample_rate_zero_exports_nothing(exported: Exported, tmp_path: Path) -> None:
    fluxloop.configure(storage="file", base_path=tmp_path, sample_rate=0.0)

    @fluxloop.agent
    def run() -> str:
        return "x"

    for _ in range(20):
        assert run() == "x"
    fluxloop.flush()
    assert not list(tmp_path.glob("observations_*.jsonl"))


def test_get_config_reflects_configure(exported: Exported) -> None:
    fluxloop.configure(service_name="svc-a")
    assert fluxloop.get_config().service_name == "svc-a"


def test_an_invalid_variable_warns_once_and_never_breaks_configure(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    fluxloop.reset_config()
    monkeypatch.setenv("FLUXLOOP_SAMPLE_RATE", "abc")
    monkeypatch.setenv("FLUXLOOP_MAX_DEPTH", "7")
    try:
        config = fluxloop.configure(storage="none")  # the explicit call itself is fine
        fluxloop.configure(storage="none")
        assert config.sample_rate == 1.0  # the bad variable is ignored: the default applies
        assert config.max_depth == 7  # the other variables still apply
        warnings = [
            r.getMessage() for r in caplog.records if "FLUXLOOP_SAMPLE_RATE" in r.getMessage()
        ]
        assert warnings == [
            "fluxloop: ignoring an invalid setting: FLUXLOOP_SAMPLE_RATE: expected a number "
            "between 0.0 and 1.0, found 'abc'"
        ]
        with pytest.raises(ConfigError, match="sample_rate: expected a number"):
            fluxloop.configure(sample_rate="abc")  # a wrong argument is a bug in the caller
    finally:
        fluxloop.reset_config()


def test_is_true_reads_booleans_as_the_resolver_does() -> None:
    """The one reading of true/false, shared by the resolver and `fluxloop record status`."""
    assert [is_true(v) for v in ("1", " TRUE ", "yes", "on", "y", "t", True)] == [True] * 7
    assert [is_true(v) for v in ("0", "false", "off", "", "maybe", None, False)] == [False] * 7
