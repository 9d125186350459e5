"""The end-to-end demo behind ``make demo``: agents traced to JSONL files, then the tree and paths.

No API key, no server: the example agents use stub models, FluxLoop writes the JSONL contract
under ``demo-output/traces`` and this script reads the files back and prints each trace.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import fluxloop  # noqa: E402
from examples import simple_agent, streaming_agent  # noqa: E402
from fluxloop.analysis.tree import render_tree  # noqa: E402

OUTPUT = ROOT / "demo-output" / "traces"


def main() -> None:
    shutil.rmtree(OUTPUT, ignore_errors=True)
    fluxloop.configure(storage="file", base_path=OUTPUT)
    for question in ("What is the weather in Paris?", "Will it rain in Seoul?"):
        print(f"Q: {question}\nA: {simple_agent.run(question)}\n")
    print("Q: Tell me about Seoul (streamed)\nA: ", end="")
    asyncio.run(streaming_agent.main("Tell me about Seoul"))
    fluxloop.flush()

    observation_files = sorted(OUTPUT.glob("observations_*.jsonl"))
    trace_files = sorted(OUTPUT.glob("traces_*.jsonl"))
    records = [
        json.loads(line) for path in observation_files for line in path.read_text().splitlines()
    ]
    print("\n" + render_tree(records))
    print(f"\n{len(records)} observations in {len(trace_files)} trace file(s):")
    for path in trace_files + observation_files:
        print(f"  {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
