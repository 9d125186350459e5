"""An async agent that streams its answer token by token (an async generator).

``python examples/streaming_agent.py "Tell me about Seoul"`` prints the stream; the trace shows
one ``invoke_agent`` span and a ``chat`` span that stayed open across every chunk, with the
time to first chunk and the aggregated text.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import fluxloop


@fluxloop.tool(description="Search a tiny offline knowledge base")
async def search(query: str) -> list[str]:
    await asyncio.sleep(0.005)
    facts = {"seoul": ["Seoul is the capital of South Korea.", "It has about 9.4 million people."]}
    return next((v for k, v in facts.items() if k in query.lower()), ["No facts found."])


@fluxloop.prompt(model="stub-stream-1", provider="fluxloop.stub")
async def stream_completion(prompt: str) -> AsyncIterator[str]:
    for word in prompt.split():
        await asyncio.sleep(0.001)
        yield word + " "


@fluxloop.agent(name="StreamingAgent")
async def run(input_text: str) -> AsyncIterator[str]:
    """Stream an answer built from the knowledge base."""
    facts = await search(input_text)
    async for chunk in stream_completion(" ".join(facts)):
        yield chunk


async def main(question: str) -> None:
    async for chunk in run(question):
        print(chunk, end="", flush=True)
    print()


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "Tell me about Seoul"))
    fluxloop.flush()
