"""A small instrumented agent: agent → tool → prompt, traced to JSONL files.

Run it directly (``python examples/simple_agent.py "What is the weather in Paris?"``) or as a
runner target (``examples.simple_agent:run``). No API key needed: the "model" is a stub.
"""

from __future__ import annotations

import sys

import fluxloop


@fluxloop.tool(description="Look up the weather for a city")
def get_weather(city: str) -> dict[str, object]:
    forecasts = {"paris": "light rain", "seoul": "clear skies", "lima": "fog"}
    return {"city": city, "forecast": forecasts.get(city.lower(), "sunny"), "celsius": 18}


@fluxloop.prompt(model="stub-1", provider="fluxloop.stub")
def compose_answer(question: str, facts: dict[str, object]) -> dict[str, object]:
    text = f"In {facts['city']} expect {facts['forecast']} around {facts['celsius']}°C."
    return {
        "content": text,
        "usage": {
            "prompt_tokens": len(question.split()) + 12,
            "completion_tokens": len(text.split()),
        },
    }


def _city_of(question: str) -> str:
    words = [w.strip("?!.,") for w in question.split()]
    capitalised = [w for w in words[1:] if w[:1].isupper()]
    return capitalised[-1] if capitalised else "Paris"


@fluxloop.agent(name="WeatherAgent")
def run(input_text: str) -> str:
    """Answer a weather question."""
    facts = get_weather(_city_of(input_text))
    return str(compose_answer(input_text, facts)["content"])


if __name__ == "__main__":
    question = " ".join(sys.argv[1:]) or "What is the weather in Paris?"
    print(run(question))
    fluxloop.flush()
