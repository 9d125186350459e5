"""Model-call cassette benchmarks (prints numbers; no assertions).

Run: ``.venv/bin/python bench/bench_cassette.py [--quick]``.

1. Replay overhead: 1,000 replayed calls through the OpenAI SDK (the ``http`` layer: request
   normalised, masked and digested, entry looked up, response rebuilt and streamed back) against
   the same 1,000 calls with the same client whose transport answers at once with the same
   bodies (the SDK's own cost). Overhead per call = the difference. Target: under 1 ms per call.
   The same for a langchain-core chat model (the ``langchain`` layer): replayed ``invoke`` vs a
   fake chat model answering directly.
2. Recording: live calls to a local OpenAI-compatible server on 127.0.0.1 (5 ms per reply),
   with and without recording them (interleaved rounds, medians). Target: no measurable
   difference (ratio ~1.0, within the run-to-run noise printed next to it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
from langchain_core.language_models.fake_chat_models import FakeListChatModel

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fluxloop.cassette import CassetteSession, CassetteSettings  # noqa: E402
from tests.cassette.servers import FakeServer  # noqa: E402

KEY = "sk-bench0123456789abcdefghijklmno"


def _session(directory: Path, mode: str) -> CassetteSession:
    opened = CassetteSession.open(
        CassetteSettings(mode, directory),  # type: ignore[arg-type]
        name="bench",
        target="bench:run",
        scope="run",
    )
    assert opened is not None
    return opened


def _messages(i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": "You are a helpful travel agent. Answer briefly."},
        {"role": "user", "content": f"What is the weather like in city number {i} today?"},
    ]


def bench_replay(calls: int) -> None:
    server = FakeServer("openai", chunk_delay=0.0).start()
    directory = Path(tempfile.mkdtemp())
    try:
        live = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        rec = _session(directory, "record")
        with rec.tape("run"):
            for i in range(calls):
                live.chat.completions.create(model="gpt-test", messages=_messages(i))
        rec.close()
    finally:
        server.stop()
    bodies = [
        json.dumps(json.loads(line)["response"]["json"]).encode()
        for line in (directory / "bench.jsonl").read_text().splitlines()[1:]
    ]
    by_user = {}
    for i, body in enumerate(bodies):
        by_user[i] = body

    def instant(self: Any, request: httpx2.Request) -> httpx2.Response:
        i = int(json.loads(request.read())["messages"][1]["content"].split()[-2])
        return httpx2.Response(
            200, content=by_user[i], headers={"content-type": "application/json"}
        )

    replayer = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)

    def direct() -> float:
        # the same client, its transport answering at once with the same bodies: the SDK's cost
        patched = httpx2.HTTPTransport.handle_request
        httpx2.HTTPTransport.handle_request = instant  # type: ignore[method-assign]
        try:
            start = time.perf_counter()
            for i in range(calls):
                replayer.chat.completions.create(model="gpt-test", messages=_messages(i))
            return time.perf_counter() - start
        finally:
            httpx2.HTTPTransport.handle_request = patched  # type: ignore[method-assign]

    def replayed() -> float:
        session = _session(directory, "replay")
        start = time.perf_counter()
        with session.tape("run"):
            for i in range(calls):
                replayer.chat.completions.create(model="gpt-test", messages=_messages(i))
        elapsed = time.perf_counter() - start
        assert session.stats.replayed == calls and not session.stats.misses
        return elapsed

    direct(), replayed()  # warm up
    # interleaved rounds, the best of each: the machine's load drifts between rounds
    rounds = [(direct(), replayed()) for _ in range(5)]
    base = min(r[0] for r in rounds)
    rep = min(r[1] for r in rounds)
    per = (rep - base) / calls * 1000
    print(f"1. replay, OpenAI SDK (http layer), {calls} calls ({calls} entries in the cassette)")
    print(f"   SDK, instant transport{base / calls * 1e6:8.1f} us/call")
    print(f"   SDK + cassette replay {rep / calls * 1e6:8.1f} us/call   ratio {rep / base:.2f}x")
    print(f"   overhead              {per * 1000:8.1f} us/call   (target < 1000 us)")

    # the transport alone: httpx2 send + read of the same requests, replayed vs answered at once
    plain_client = httpx2.Client()
    requests = [
        plain_client.build_request(
            "POST",
            f"{server.base_url}/chat/completions",
            json={"model": "gpt-test", "messages": _messages(i)},
        )
        for i in range(calls)
    ]

    def send_all() -> float:
        start = time.perf_counter()
        for request in requests:
            response = plain_client.send(request)
            response.read()
            response.close()
        return time.perf_counter() - start

    def transport_direct() -> float:
        patched = httpx2.HTTPTransport.handle_request
        httpx2.HTTPTransport.handle_request = instant  # type: ignore[method-assign]
        try:
            return send_all()
        finally:
            httpx2.HTTPTransport.handle_request = patched  # type: ignore[method-assign]

    def transport_replayed() -> float:
        session = _session(directory, "replay")
        with session.tape("run"):
            return send_all()

    rounds = [(transport_direct(), transport_replayed()) for _ in range(5)]
    base = min(r[0] for r in rounds)
    rep = min(r[1] for r in rounds)
    print(
        f"   transport only: instant {base / calls * 1e6:.1f} us/call, replayed "
        f"{rep / calls * 1e6:.1f} us/call, cassette's own work {(rep - base) / calls * 1e6:.1f} us/call"
    )

    model = FakeListChatModel(responses=["a fine day with light wind"])
    lc_dir = Path(tempfile.mkdtemp())
    rec = CassetteSession.open(
        CassetteSettings("record", lc_dir), name="lc", target=None, scope="run"
    )
    assert rec is not None
    with rec.tape("run"):
        for i in range(calls):
            model.invoke(_messages(i)[1]["content"])
    rec.close()

    def lc_direct() -> float:
        start = time.perf_counter()
        for i in range(calls):
            model.invoke(_messages(i)[1]["content"])
        return time.perf_counter() - start

    def lc_replayed() -> float:
        session = CassetteSession.open(
            CassetteSettings("replay", lc_dir), name="lc", target=None, scope="run"
        )
        assert session is not None
        start = time.perf_counter()
        with session.tape("run"):
            for i in range(calls):
                model.invoke(_messages(i)[1]["content"])
        return time.perf_counter() - start

    lc_direct(), lc_replayed()
    rounds = [(lc_direct(), lc_replayed()) for _ in range(5)]
    base = min(r[0] for r in rounds)
    rep = min(r[1] for r in rounds)
    print(f"   langchain-core chat model, {calls} calls")
    print(f"   fake model directly   {base / calls * 1e6:8.1f} us/call")
    print(f"   cassette replay       {rep / calls * 1e6:8.1f} us/call   ratio {rep / base:.2f}x")
    print(
        f"   overhead              {(rep - base) / calls * 1e6:8.1f} us/call   (target < 1000 us)"
    )


def bench_record(calls: int, rounds: int) -> None:
    server = FakeServer("openai", chunk_delay=0.0).start()
    directory = Path(tempfile.mkdtemp())
    slow: Any = server

    # every reply takes ~5 ms, like a (very fast) model
    original = slow._openai

    def delayed(handler: Any, body: Any, n: int) -> None:
        time.sleep(0.005)
        original(handler, body, n)

    slow._openai = delayed
    try:
        client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        plain: list[float] = []
        recording: list[float] = []
        streamed_plain: list[float] = []
        streamed_rec: list[float] = []

        def one(i: int, stream: bool) -> float:
            start = time.perf_counter()
            if stream:
                for _ in client.chat.completions.create(
                    model="gpt-test", messages=_messages(i), stream=True
                ):
                    pass
            else:
                client.chat.completions.create(model="gpt-test", messages=_messages(i))
            return time.perf_counter() - start

        one(0, False)
        for r in range(rounds):
            session = _session(directory, "record")
            for i in range(calls):
                plain.append(one(i, False))
                streamed_plain.append(one(i, True))
                with session.tape(f"{r}-{i}"):
                    recording.append(one(i, False))
                    streamed_rec.append(one(i, True))
            session.close()
    finally:
        server.stop()
    med = statistics.median
    noise = statistics.quantiles(plain, n=4)
    print(f"2. recording a live call (local server, ~5 ms per reply), {calls * rounds} calls each")
    print(
        f"   plain      median {med(plain) * 1000:6.2f} ms (IQR {noise[0] * 1000:.2f}-{noise[2] * 1000:.2f})"
    )
    print(
        f"   recorded   median {med(recording) * 1000:6.2f} ms   ratio {med(recording) / med(plain):.3f}x"
    )
    print(f"   streamed   median {med(streamed_plain) * 1000:6.2f} ms")
    print(
        f"   streamed+recorded median {med(streamed_rec) * 1000:6.2f} ms   "
        f"ratio {med(streamed_rec) / med(streamed_plain):.3f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    bench_replay(200 if args.quick else 1000)
    bench_record(20 if args.quick else 100, 1 if args.quick else 3)


if __name__ == "__main__":
    main()
