"""Input generation and simulated users.

* :mod:`.settings` - the ``input_generation`` / personas / strategies configuration;
* :mod:`.strategies` - deterministic, seeded rewrite strategies (no network);
* :mod:`.llm` - chat models through langchain-core: bounded, retried, cached, metered;
* :mod:`.generator` / :mod:`.output` - the plan, de-duplication, ``inputs/generated.yaml``;
* :mod:`.recording` - base inputs from a ``record_call_args`` recording;
* :mod:`.api` - :func:`generate_inputs`, what ``fluxloop generate inputs`` runs.
"""

from __future__ import annotations

__all__: list[str] = []
