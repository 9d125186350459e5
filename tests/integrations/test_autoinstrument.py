"""LangChain instrumented when the application imports it, and not before: a run of a target that
never uses LangChain does not import langchain-core or langsmith (a third of a second), one that
does is traced from its first model call; a failing instrumentation never breaks the import.
In subprocesses: which modules a process imported is the process's."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.cli_process import python


def run(tmp_path: Path, *code: str) -> str:
    done = python("".join(textwrap.dedent(part) for part in code), tmp_path)
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


TRACE_A_FAKE_MODEL = """
    from langchain_core.language_models.fake_chat_models import FakeListChatModel
    from fluxloop.integrations.langchain import is_langchain_instrumented
    from fluxloop.sdk import capture_run

    print("instrumented", is_langchain_instrumented())
    with capture_run({}) as capture:
        FakeListChatModel(responses=["hi"]).invoke("hello")
    print("spans", sorted(span.name for span in capture.spans))
"""


def test_the_runner_instruments_langchain_only_once_the_target_imports_it(
    tmp_path: Path,
) -> None:
    out = run(
        tmp_path,
        """
        import sys
        from fluxloop.runner.tracing import configure_tracing

        configure_tracing(None, None, no_collector=True)
        print("before", [m for m in ("langchain_core", "langsmith") if m in sys.modules])
        """,
        TRACE_A_FAKE_MODEL,
    )
    assert "before []" in out
    assert "instrumented True" in out
    assert "chat" in out.split("spans", 1)[1]


def test_auto_instrument_off_leaves_langchain_alone(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        from fluxloop.runner.tracing import configure_tracing

        configure_tracing(None, None, no_collector=True, auto_instrument=False)
        """,
        TRACE_A_FAKE_MODEL,
    )
    assert "instrumented False" in out
    assert "spans []" in out


def test_the_instrumentor_waits_for_the_import_and_can_be_undone(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        import sys
        from fluxloop.integrations.instrumentor import LangChainInstrumentor

        instrumentor = LangChainInstrumentor()
        instrumentor.instrument()
        print("before", "langchain_core" in sys.modules)
        import langchain_core
        from fluxloop.integrations.langchain import is_langchain_instrumented

        print("after import", is_langchain_instrumented())
        instrumentor.uninstrument()
        print("after uninstrument", is_langchain_instrumented())
        """,
    )
    assert "before False" in out
    assert "after import True" in out
    assert "after uninstrument False" in out


def test_a_failing_instrumentation_never_breaks_the_applications_import(tmp_path: Path) -> None:
    out = run(
        tmp_path,
        """
        import sys
        from fluxloop.integrations.autoinstrument import instrument_langchain_on_import

        sys.modules["fluxloop.integrations.langchain"] = None  # importing it now fails
        instrument_langchain_on_import()
        from langchain_core.messages import HumanMessage

        print("imported", HumanMessage(content="ok").content)
        """,
    )
    assert "imported ok" in out
    assert "could not instrument LangChain" in out


def test_importing_fluxloops_integration_first_still_instruments(tmp_path: Path) -> None:
    """FluxLoop's integration imports langchain-core itself: the hook fires while the integration
    is half-made, and the integration applies the request when it is complete."""
    out = run(
        tmp_path,
        """
        from fluxloop.runner.tracing import configure_tracing

        configure_tracing(None, None, no_collector=True)
        from fluxloop.integrations.langchain import is_langchain_instrumented

        print("instrumented", is_langchain_instrumented())
        """,
    )
    assert "instrumented True" in out
    assert "could not instrument" not in out
