"""``fluxloop ui`` over HTTP: the real server in a subprocess, its JSON API, its refusals, its
reading of damaged input, and the links printed by ``evaluate`` / ``compare``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from fluxloop.ui.server import effective_token, is_loopback
from tests.cli_process import clean_env, fl

from .conftest import Viewer, experiment_ids, settled, start_viewer, stop_viewer


def _snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_list_shows_each_experiment_with_status_rates_latency_tokens(viewer: Viewer) -> None:
    status, data, _ = viewer.get("/api/experiments")
    assert status == 200
    rows = {r["dir"][:1] if r["dir"] != "original_run" else "o": r for r in data["experiments"]}
    assert set(rows) == {"a", "b", "c", "o"}
    a = rows["a"]
    assert a["status"] == "complete"
    assert a["runs"] == 20 and a["failed"] == 6
    assert a["success_rate"] == pytest.approx(0.7)
    assert a["evaluated"] and a["pass_rate"] == pytest.approx(0.7)
    assert a["p50_ms"] is not None and a["p95_ms"] is not None and a["tokens"] > 0
    assert rows["o"]["evaluated"] is False
    assert all(not r["notices"] for r in rows.values())  # the current contract reads cleanly


def test_first_page_is_read_from_the_file_while_the_table_is_built(
    tmp_path: Path, ui_project: dict[str, Path]
) -> None:
    viewer = start_viewer(ui_project["a"], tmp_path / "state")
    try:
        _, first, _ = viewer.get("/api/runs?x=.&limit=5")
        built = settled(viewer, "/api/runs?x=.&limit=5")
    finally:
        stop_viewer(viewer)
    # whichever answered first, the page is the same rows (verdicts come with the table)
    keys = ("n", "trace_id", "input", "success", "error_type", "duration_ms", "tokens")
    assert [[r[k] for k in keys] for r in first["rows"]] == [
        [r[k] for k in keys] for r in built["rows"]
    ]
    assert first["total"] == built["total"] == 20
    assert built["loading"] is False and built["rows"][0]["passed"] is True


def test_run_table_filters_sorts_and_pages_on_the_server(viewer: Viewer) -> None:
    x = quote(experiment_ids(viewer)["a"])
    _, page, _ = viewer.get(f"/api/runs?x={x}&status=failed")
    assert (page["total"], page["matched"]) == (20, 6)
    assert all(not r["success"] for r in page["rows"])
    _, page, _ = viewer.get(f"/api/runs?x={x}&persona=expert&q=ORDER")
    assert page["matched"] == 6 and {r["persona"] for r in page["rows"]} == {"expert"}
    assert all("order" in r["input"].lower() for r in page["rows"])
    _, page, _ = viewer.get(f"/api/runs?x={x}&verdict=failed&error_type=RuntimeError")
    assert page["matched"] == 4 and all(r["passed"] is False for r in page["rows"])
    _, page, _ = viewer.get(f"/api/runs?x={x}&tmin=14&tmax=15")
    assert page["matched"] > 0 and all(14 <= r["tokens"] <= 15 for r in page["rows"])
    _, page, _ = viewer.get(f"/api/runs?x={x}&sort=duration&order=desc&limit=5&offset=5")
    durations = [r["duration_ms"] for r in page["rows"]]
    assert len(durations) == 5 and durations == sorted(durations, reverse=True)
    _, first, _ = viewer.get(f"/api/runs?x={x}&sort=duration&order=desc&limit=5")
    assert min(r["duration_ms"] for r in first["rows"]) >= max(durations)
    _, page, _ = viewer.get(f"/api/runs?x={x}&dmin=0&dmax=0.000001")
    assert page["matched"] == 0 and page["rows"] == []


def test_run_detail_has_spans_evaluation_and_iterations(viewer: Viewer) -> None:
    x = quote(experiment_ids(viewer)["a"])
    _, page, _ = viewer.get(f"/api/runs?x={x}&status=failed&q=boom&persona=novice")
    trace = page["rows"][0]["trace_id"]
    status, run, _ = viewer.get(f"/api/run?x={x}&trace={trace}")
    assert status == 200
    assert run["run"]["error"]["type"] == "RuntimeError"
    assert "Traceback" in run["run"]["error"]["traceback"]
    names = [(s["type"], s["name"], s["depth"]) for s in run["spans"]]
    assert names[0] == ("agent", "SupportAgent", 0)
    assert ("tool", "lookup_order", 1) in names
    assert run["evaluation"]["passed"] is False
    assert run["evaluation"]["evaluators"][0]["checks"]
    assert [s["iteration"] for s in run["siblings"]] == [0, 1]


def test_original_fluxloop_directory_is_readable(viewer: Viewer) -> None:
    x = quote(experiment_ids(viewer)["original"])
    page = settled(viewer, f"/api/runs?x={x}")
    assert page["total"] == 4  # three successful runs + the failure known only from errors.json
    failed = [r for r in page["rows"] if not r["success"]]
    assert len(failed) == 1 and "on purpose" in failed[0]["error_message"]
    trace = next(r["trace_id"] for r in page["rows"] if r["success"])
    _, run, _ = viewer.get(f"/api/run?x={x}&trace={trace}")
    assert [s["name"] for s in run["spans"]] == [
        "SimpleAgent",
        "process_input",
        "generate_response",
    ]


SDK_AGENT = """
import fluxloop

fluxloop.configure(storage="file", base_path="traces")


@fluxloop.tool(description="Look up an order")
def lookup(order_id: str) -> dict:
    if order_id == "bad":
        raise RuntimeError("lookup failed")
    return {"order_id": order_id, "status": "shipped"}


@fluxloop.agent(name="Support")
def support(question: str) -> str:
    return "status: " + lookup("bad" if "bad" in question else "A1")["status"]


for q in ["where is order A1", "refund please", "bad order"]:
    try:
        support(q)
    except RuntimeError:
        pass
fluxloop.shutdown()
"""


def test_a_folder_of_traces_is_read_as_runs(tmp_path: Path) -> None:
    """The SDK's traces/ folder (the collector's and `import otlp`'s layout): each root trace is
    a run, derived by the analysis package; nothing is written into the folder."""
    project = tmp_path / "app"
    project.mkdir()
    (project / "agent.py").write_text(SDK_AGENT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "agent.py"], cwd=project, env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    before = _snapshot(project)
    viewer = start_viewer(project, tmp_path / "state")
    try:
        _, data, _ = viewer.get("/api/experiments")
        (row,) = data["experiments"]
        assert (row["id"], row["kind"], row["runs"]) == ("traces", "traces", 3)
        page = settled(viewer, "/api/runs?x=traces")
        assert page["total"] == 3
        _, failed, _ = viewer.get("/api/runs?x=traces&status=failed")
        (bad,) = failed["rows"]
        assert bad["error_type"] == "RuntimeError" and "bad order" in bad["input"]
        _, run, _ = viewer.get(f"/api/run?x=traces&trace={bad['trace_id']}")
        assert [(s["type"], s["name"]) for s in run["spans"]] == [
            ("agent", "Support"),
            ("tool", "lookup"),
        ]
        assert run["run"]["error"]["message"]
        _, result, _ = viewer.get("/api/compare?a=traces&b=traces")
        assert result["matched"] == 3 and result["regressions"] == 0
    finally:
        stop_viewer(viewer)
    assert _snapshot(project) == before


def test_compare_uses_the_cli_alignment_and_diffs_a_pair(viewer: Viewer) -> None:
    ids = experiment_ids(viewer)
    a, b = quote(ids["a"]), quote(ids["b"])
    _, result, _ = viewer.get(f"/api/compare?a={a}&b={b}")
    assert result["regressions"] == 4 and result["improvements"] == 4
    reg = result["regressed_runs"][0]
    assert reg["input"] == "hello there"
    _, pair, _ = viewer.get(f"/api/pair?a={a}&b={b}&ta={reg['trace_a']}&tb={reg['trace_b']}")
    assert any(d["kind"] == "new_error" for d in pair["diff"])
    imp = result["improved_runs"][0]
    _, pair, _ = viewer.get(f"/api/pair?a={a}&b={b}&ta={imp['trace_a']}&tb={imp['trace_b']}")
    assert pair["a"]["run"]["success"] is False and pair["b"]["run"]["success"] is True


@pytest.mark.parametrize(
    "query",
    ["x=..", "x=../..", "x=%2Fetc", "x=experiments%2F..%2F..%2F..", "a=..&b=.."],
)
def test_paths_outside_the_served_directory_are_refused(viewer: Viewer, query: str) -> None:
    endpoint = "compare" if query.startswith("a=") else "runs"
    status, body, _ = viewer.get(f"/api/{endpoint}?{query}")
    assert status == 403
    assert "outside the served directory" in body["error"]


def test_a_symlink_leading_out_is_refused(viewer: Viewer, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "trace_summary.jsonl").write_text("{}\n")
    link = viewer.root / "escape"
    link.symlink_to(outside)
    try:
        status, body, _ = viewer.get("/api/runs?x=escape")
        assert status == 403 and "outside the served directory" in body["error"]
    finally:
        link.unlink()


def test_bad_requests_get_one_line_and_no_traceback(viewer: Viewer) -> None:
    x = quote(experiment_ids(viewer)["a"])
    for path, code in [
        (f"/api/runs?x={x}&dmin=fast", 400),
        (f"/api/runs?x={x}&sort=__import__", 400),
        ("/api/runs", 400),
        ("/api/runs?x=setting_a.yaml", 404),
        (f"/api/run?x={x}&trace=0000", 404),
    ]:
        status, body, _ = viewer.get(path)
        assert status == code, path
        assert "\n" not in body["error"] and "Traceback" not in body["error"]


def test_damaged_experiment_shows_notices_and_the_rest(
    served: Path, tmp_path: Path, ui_project: dict[str, Path]
) -> None:
    root = tmp_path / "damaged"
    exp = root / "exp"
    shutil.copytree(ui_project["a"], exp, symlinks=True)
    lines = (exp / "trace_summary.jsonl").read_bytes().splitlines(keepends=True)
    # a malformed line in the middle, and a torn last line (a run killed mid-write)
    (exp / "trace_summary.jsonl").write_bytes(
        b"".join(lines[:3]) + b"{not json\n" + b"".join(lines[3:]) + b'{"trace_id": "ab'
    )
    obs = (exp / "observations.jsonl").read_bytes().splitlines(keepends=True)
    (exp / "observations.jsonl").write_bytes(b"".join(obs[:2]) + b"garbage\n" + b"".join(obs[2:]))
    summary = json.loads((exp / "summary.json").read_text())
    summary["contract_version"] = "9"
    (exp / "summary.json").write_text(json.dumps(summary))
    (exp / "evaluation" / "summary.json").write_text("{truncated")
    before = _snapshot(root)
    viewer = start_viewer(exp, tmp_path / "state")
    try:
        info = settled(viewer, "/api/experiment?x=.")
        notices = " | ".join(info["notices"])
        assert "1 malformed line(s) skipped" in notices
        assert "last line is incomplete" in notices
        assert "unknown contract version '9'" in notices
        assert "evaluation/summary.json: malformed JSON" in notices
        page = settled(viewer, "/api/runs?x=.&limit=100")
        assert page["total"] == 20
        trace = page["rows"][0]["trace_id"]
        status, run, _ = viewer.get(f"/api/run?x=.&trace={trace}")
        assert status == 200 and run["spans"], run
        assert any("bad lines are skipped" in n for n in run["notices"])
        (exp / "observations.jsonl").unlink()
        before.pop("exp/observations.jsonl")
        status, run, _ = viewer.get(f"/api/run?x=.&trace={trace}")
        assert status == 200 and run["run"]["trace_id"] == trace
        assert any("observations.jsonl: missing" in n for n in run["notices"])
    finally:
        err = stop_viewer(viewer)
    assert "Traceback" not in err
    assert _snapshot(root) == before  # read-only: nothing written into the data


def test_live_experiment_updates_without_restart(
    tmp_path: Path, ui_project: dict[str, Path]
) -> None:
    exp = tmp_path / "live" / "exp"
    shutil.copytree(ui_project["a"], exp, symlinks=True)
    summary = json.loads((exp / "summary.json").read_text())
    summary.update(status="running", pid=os.getpid())
    (exp / "summary.json").write_text(json.dumps(summary))
    lines = (exp / "trace_summary.jsonl").read_text().splitlines(keepends=True)
    (exp / "trace_summary.jsonl").write_text("".join(lines[:5]))
    viewer = start_viewer(exp.parent, tmp_path / "state")
    try:
        _, data, _ = viewer.get("/api/experiments")
        assert data["experiments"][0]["status"] == "running"
        page = settled(viewer, "/api/runs?x=exp")
        assert page["total"] == 5
        time.sleep(0.01)  # a distinct mtime
        with (exp / "trace_summary.jsonl").open("a") as fh:
            fh.write("".join(lines[5:12]))
        page = settled(viewer, "/api/runs?x=exp", lambda body: body["total"] == 12)
        assert page["total"] == 12
    finally:
        stop_viewer(viewer)


def test_token_is_required_on_every_request(tmp_path: Path, ui_project: dict[str, Path]) -> None:
    viewer = start_viewer(ui_project["a"], tmp_path / "state", "--token", "s3cret")
    try:
        assert viewer.get("/api/health")[0] == 401
        assert viewer.get("/")[0] == 401
        assert viewer.get("/static/app.js")[0] == 401
        assert viewer.get("/api/health?token=wrong")[0] == 401
        status, _, headers = viewer.get("/?token=s3cret")
        assert status == 200
        cookie = headers["set-cookie"].split(";")[0]
        assert cookie == "fluxloop_ui_token=s3cret"
        assert viewer.get("/api/experiments", {"Cookie": cookie})[0] == 200
        assert viewer.get("/api/health", {"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        stop_viewer(viewer)


def test_binding_beyond_loopback_generates_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert effective_token("127.0.0.1", None) is None
    generated = effective_token("0.0.0.0", None)
    assert generated and len(generated) >= 24
    assert effective_token("0.0.0.0", None) != generated
    assert effective_token("0.0.0.0", "mine") == "mine"


def test_the_page_shell_allows_only_its_own_assets(viewer: Viewer) -> None:
    status, html, headers = viewer.get("/run?x=whatever&trace=1")
    assert status == 200 and '<script src="/static/app.js">' in html
    assert "default-src 'self'" in headers["content-security-policy"]
    assert "script-src" not in headers["content-security-policy"]  # so: 'self' only
    assert headers["x-content-type-options"] == "nosniff"


def test_foreign_host_header_is_refused(viewer: Viewer) -> None:
    status, _, _ = viewer.get("/api/health", {"Host": "attacker.example"})
    assert status == 400


def test_unexpected_error_is_a_500_line_and_the_traceback_stays_in_the_terminal(
    tmp_path: Path,
) -> None:
    import asyncio
    import logging
    import socket

    import uvicorn
    from starlette.routing import Route

    from fluxloop.ui.app import ViewerState, create_app
    from fluxloop.ui.source import Root

    def boom(request: object) -> None:
        raise ZeroDivisionError("secret internals")

    app = create_app(ViewerState(Root.open(tmp_path), "test"))
    app.router.routes.append(Route("/api/boom", boom))
    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("fluxloop.ui").addHandler(handler)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        viewer = Viewer(f"http://127.0.0.1:{sock.getsockname()[1]}", tmp_path, tmp_path, None)  # type: ignore[arg-type]
        status, body, _ = viewer.get("/api/boom")
        assert status == 500
        assert "ZeroDivisionError" in body["error"] and "secret internals" not in body["error"]
        assert "Traceback" not in json.dumps(body)
        status, _, _ = viewer.get("/run/../../etc/passwd")
        assert status == 404
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        logging.getLogger("fluxloop.ui").removeHandler(handler)
    assert records and records[0].exc_info is not None


def test_cli_bad_path_is_one_line_exit_2(tmp_path: Path) -> None:
    proc = fl("ui", str(tmp_path / "missing"), "--no-open", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_evaluate_and_compare_print_the_viewer_link(
    tmp_path: Path, ui_project: dict[str, Path]
) -> None:
    root = tmp_path / "proj"
    shutil.copytree(ui_project["root"], root, symlinks=True)
    a = root / "experiments" / ui_project["a"].name
    b = root / "experiments" / ui_project["b"].name
    state = tmp_path / "state"
    env = {"XDG_STATE_HOME": str(state)}
    proc = fl("compare", str(a), str(b), cwd=root, env=env)
    assert "Viewer:" not in proc.stderr  # no viewer running
    viewer = start_viewer(root, state)
    try:
        proc = fl("evaluate", "experiment", str(a), "--overwrite", cwd=root, env=env)
        assert proc.returncode in (0, 1), proc.stderr
        link = next(ln for ln in proc.stdout.splitlines() if "viewer:" in ln).split("viewer: ")[1]
        assert link == f"{viewer.url}/experiment?x=experiments%2F{a.name}"
        proc = fl("compare", str(a), str(b), "--format", "json", cwd=root, env=env)
        json.loads(proc.stdout)  # the link goes to stderr, stdout stays JSON
        assert (
            f"Viewer: {viewer.url}/compare?a=experiments%2F{a.name}&b=experiments%2F{b.name}"
            in proc.stderr
        )
        status, _, _ = viewer.get(link.removeprefix(viewer.url))
        assert status == 200
    finally:
        stop_viewer(viewer)
    assert not list((state / "fluxloop" / "ui").glob("viewer-*.json"))  # removed on exit
    proc = fl("compare", str(a), str(b), cwd=root, env=env)
    assert "Viewer:" not in proc.stderr
