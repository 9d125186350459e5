"""Fake langchain-core chat models used as LLM judges by the tests (copied into the project)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

_ACTIVE = 0
_MAX_ACTIVE = 0
_CALLS = 0


class RubricJudge(BaseChatModel):
    """Answers like a real judge: criterion 1 passes when the agent output mentions an order,
    criterion 2 is inconclusive for refunds; the answer is wrapped in prose and a code fence.
    Records the number of calls and the peak concurrency in ``stats_file``."""

    stats_file: str = ""
    delay: float = 0.0
    style: str = "fenced"

    @property
    def _llm_type(self) -> str:
        return "rubric-fake"

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:  # pragma: no cover - only the async path is used
        raise NotImplementedError

    async def _agenerate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        global _ACTIVE, _MAX_ACTIVE, _CALLS
        _ACTIVE += 1
        _CALLS += 1
        _MAX_ACTIVE = max(_MAX_ACTIVE, _ACTIVE)
        try:
            if self.delay:
                await asyncio.sleep(self.delay)
            prompt = str(messages[-1].content)
            output = prompt.split("## Agent output\n", 1)[1].split("\n\n## ", 1)[0]
            first = "pass" if "order" in output else "fail"
            second = "inconclusive" if "refund" in prompt.lower() else "pass"
            steps = re.search(r"## Trace \((\d+) steps\)", prompt)
            verdicts = [
                {
                    "id": 1,
                    "reasoning": f"output {'mentions' if first == 'pass' else 'lacks'} an order",
                    "verdict": first,
                },
                {
                    "id": 2,
                    "reasoning": f"trace has {steps.group(1) if steps else '?'} steps",
                    "verdict": second,
                },
            ]
            body = json.dumps({"criteria": verdicts}, indent=1)
            text = (
                f"Here is my assessment.\n```json\n{body},\n```\nDone."
                if self.style == "fenced"
                else body
            )
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
        finally:
            _ACTIVE -= 1
            if self.stats_file:
                with open(self.stats_file, "w") as fh:
                    json.dump({"calls": _CALLS, "max_active": _MAX_ACTIVE}, fh)


class SlowJudge(RubricJudge):
    delay: float = 5.0


def make_rubric(stats_file: str = "", delay: float = 0.0) -> RubricJudge:
    return RubricJudge(stats_file=stats_file, delay=delay)


def make_score() -> FakeListChatModel:
    return FakeListChatModel(responses=["I would rate this response. Score: 8 out of 10."])


def make_garbage() -> FakeListChatModel:
    return FakeListChatModel(responses=["I cannot decide, sorry."])


def make_slow() -> SlowJudge:
    return SlowJudge()


def not_a_model() -> str:
    return "nope"
