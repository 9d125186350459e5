"""A real local Ray cluster on 127.0.0.1 for the Ray executor's tests (and the bench).

``ray start --head`` with one CPU, then more nodes with ``ray start --address``, each with
one CPU, the dashboard off, a small object store and ports chosen so they collide neither
with each other nor with other processes on the machine. ``stop()`` runs ``ray stop`` (always
call it: the processes are daemons).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.cli_process import clean_env

RAY = str(Path(sys.executable).parent / "ray")
OBJECT_STORE_BYTES = 80 * 1024 * 1024  # Ray's minimum is 75 MiB; the machine is shared


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker_ports(count: int = 64) -> tuple[int, int]:
    """A free range below the ephemeral range (where port-0 binds land), so nobody takes it."""
    for _ in range(50):
        low = random.randrange(20_000, 30_000 - count)
        if all(_is_free(p) for p in range(low, low + count, 8)):
            return low, low + count - 1
    raise RuntimeError("no free port range for Ray workers")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class RayCluster:
    """Nodes started with the ``ray`` CLI of this virtualenv; ``address`` is the GCS address."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        # short: Ray's unix socket paths live under it (108-byte limit)
        self.temp_dir = Path(tempfile.mkdtemp(prefix="flray", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.client_port = free_port()  # Ray Client: ray://127.0.0.1:<client_port>
        self.node_ports: list[int] = []
        self.env = clean_env(
            {
                "RAY_USAGE_STATS_ENABLED": "0",
                # a killed node is noticed in seconds, not tens of seconds
                "RAY_health_check_initial_delay_ms": "1000",
                "RAY_health_check_period_ms": "1000",
                "RAY_health_check_timeout_ms": "1000",
                "RAY_health_check_failure_threshold": "3",
                **(env or {}),
            }
        )

    def _start(self, *args: str) -> int:
        manager = free_port()
        low, high = _worker_ports()
        done = subprocess.run(
            [
                RAY,
                "start",
                *args,
                "--node-ip-address=127.0.0.1",
                "--num-cpus=1",
                f"--object-store-memory={OBJECT_STORE_BYTES}",
                "--disable-usage-stats",
                f"--node-manager-port={manager}",
                f"--object-manager-port={free_port()}",
                f"--metrics-export-port={free_port()}",
                f"--dashboard-agent-grpc-port={free_port()}",
                f"--dashboard-agent-listen-port={free_port()}",
                f"--runtime-env-agent-port={free_port()}",
                f"--min-worker-port={low}",
                f"--max-worker-port={high}",
            ],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ray start failed: {done.stdout}\n{done.stderr}")
        self.node_ports.append(manager)
        return manager

    def start(self, nodes: int = 2) -> RayCluster:
        self._start(
            "--head",
            f"--port={self.port}",
            "--include-dashboard=false",
            f"--ray-client-server-port={self.client_port}",
            f"--temp-dir={self.temp_dir}",
        )
        for _ in range(nodes - 1):
            self.add_node()
        return self

    def add_node(self) -> int:
        return self._start(f"--address={self.address}")

    def node_pids(self, manager_port: int) -> list[int]:
        """The raylet of the node with ``manager_port`` and every process below it."""
        raylets = [
            pid
            for pid, cmd in _processes()
            if "raylet" in cmd.split(" ", 1)[0] and f"--node_manager_port={manager_port}" in cmd
        ]
        found = list(raylets)
        for root in raylets:
            found.extend(_descendants(root))
        return found

    def kill_node(self, manager_port: int) -> int:
        """SIGKILL a node (its raylet and workers), as a machine lost mid-run would be."""
        pids = self.node_pids(manager_port)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.node_ports.remove(manager_port)
        return len(pids)

    def session_dir(self) -> Path:
        return (self.temp_dir / "session_latest").resolve()

    def stop(self) -> None:
        subprocess.run([RAY, "stop", "--force"], env=self.env, capture_output=True, timeout=120)
        time.sleep(0.5)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _processes() -> list[tuple[int, str]]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        out.append((int(entry.name), cmd))
    return out


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
