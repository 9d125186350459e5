"""The fake OpenAI / Anthropic servers live with the examples (the demo uses them too)."""

from examples.local_llm_server import FakeServer

__all__ = ["FakeServer"]
