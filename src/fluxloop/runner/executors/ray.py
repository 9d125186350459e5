"""The Ray executor: each run is a Ray task (or a call on a pool of actors) on a Ray cluster.

Chosen with ``--executor ray`` or ``runner.executor.type: ray``; Ray itself (the ``ray`` extra)
is imported only then. :meth:`RayExecutor.prepare` connects (``address``: ``auto``,
``HOST:PORT`` or ``ray://HOST:PORT``; none: Ray's default, which starts a local instance),
ships ``runner.working_directory`` through Ray's runtime environment (``working_dir``, with the
experiments directory, ``.env`` files and VCS/virtualenv folders left out), sends the job
(config, secrets included) once as task data, and resolves the target on every node before
any run is submitted: a problem there is a ConfigError (exit 2).

A worker process builds the job once (environment, capture, target) and keeps it for every run
it executes; each run is captured by the SDK on the worker and returned whole with its record,
and the driver writes the artifacts. A run whose worker or node dies is submitted again up to
``max_retries`` times (after ``retry_delay``, doubling), then recorded as failed with the cause.

With a cassette, each run takes its recorded entries along as task data (Ray keeps a large
argument in its object store) and plays them in the worker; the worker returns the run's new
recordings with its record, and the driver writes the cassette (see
:mod:`fluxloop.cassette.remote`).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from fluxloop.cassette import ReturnedTape, ShippedTape
from fluxloop.errors import ConfigError
from fluxloop.project.config import ExecutorSettings
from fluxloop.runner.records import PlannedRun, RunRecord

from .base import Executor, LostRun, RemoteJob, RunWorker

__all__ = ["MIN_RAY_VERSION", "RayExecutor", "WorkerLostError"]

#: The oldest Ray with every API used here (ObjectRef.future, NodeAffinitySchedulingStrategy,
#: runtime_env working_dir with excludes, get_runtime_context().get_node_id()).
MIN_RAY_VERSION = (2, 10)
#: How long the target check on the workers may take (worker start, unpacking the code, import).
PREPARE_TIMEOUT_SECONDS = 180.0
MAX_BACKOFF_SECONDS = 60.0
#: Never shipped with the working directory: secrets (.env files are sent as task data, parsed)
#: and folders no worker needs.
SHIPPING_EXCLUDES = (".env", ".env.*", ".git", ".venv", "venv", "__pycache__", "*.pyc")


def _ray() -> ModuleType:
    """The ``ray`` module, imported on first use (the executor is optional)."""
    try:
        module = importlib.import_module("ray")
    except ImportError:
        raise ConfigError(
            "--executor ray: Ray is not installed; install it with: pip install 'fluxloop[ray]'",
            key="runner.executor.type",
        ) from None
    found = _version(str(getattr(module, "__version__", "0")))
    if found < MIN_RAY_VERSION:
        wanted = ".".join(map(str, MIN_RAY_VERSION))
        raise ConfigError(
            f"--executor ray: Ray {wanted}+ is needed, found {module.__version__}; "
            "upgrade with: pip install -U 'fluxloop[ray]'",
            key="runner.executor.type",
        )
    return module


def _version(text: str) -> tuple[int, ...]:
    parts = [int(p) for p in re.findall(r"\d+", text)[:2]]
    return tuple(parts) or (0,)


def _check_reachable(address: str) -> None:
    """A GCS or client address that nothing listens on: one clear line, quickly.

    (Ray itself retries a dead address for a long time before failing with a traceback.)
    """
    if address in ("auto", "local"):
        return
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(
            f"--ray-address: expected auto, HOST:PORT or ray://HOST:PORT, found {address!r}",
            key="runner.executor.address",
        )
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=3.0):
            pass
    except OSError as exc:
        raise ConfigError(
            f"--ray-address {address}: no Ray cluster reachable ({exc.strerror or exc}); "
            "start one with `ray start --head` or fix runner.executor.address",
            key="runner.executor.address",
        ) from None


# --------------------------------------------------------------------------------------------
# the worker side (module-level, so Ray ships these functions by reference)


class _WorkerState:
    """One job built in one worker process: its environment stays entered for good."""

    def __init__(self, job: RemoteJob) -> None:
        self.stack = contextlib.ExitStack()
        root = Path.cwd()
        # Ray unpacked the working directory here (a copy); None: the same paths exist here
        same = root.resolve() == job.code_dir.resolve()
        self.worker: RunWorker = job.build(self.stack, None if same else root)
        self.loop = asyncio.new_event_loop()


_STATES: dict[str, _WorkerState] = {}


def _state(key: str, box: list[Any]) -> _WorkerState:
    state = _STATES.get(key)
    if state is None:
        # the job comes boxed, so Ray hands over its ObjectRef and this process fetches the
        # job once, not with every task
        job: RemoteJob = _ray().get(box[0])
        state = _STATES[key] = _WorkerState(job)
    return state


def _where() -> dict[str, Any]:
    ctx = _ray().get_runtime_context()
    return {"type": "ray", "node_id": ctx.get_node_id(), "pid": os.getpid()}


def _probe(key: str, box: list[Any]) -> str | None:
    """Build the job here: None when the target resolves, else the one-line reason."""
    try:
        _state(key, box)
    except ConfigError as exc:
        return str(exc).splitlines()[0]
    except Exception as exc:
        return _one_line(exc)
    return None


#: What a worker sends back for one run: its record, where it ran, and what it did with its
#: tape (None without a cassette).
Outcome = tuple[RunRecord, dict[str, Any], ReturnedTape | None]


def _execute(key: str, box: list[Any], planned: PlannedRun, shipped: ShippedTape | None) -> Outcome:
    """One run in a worker process (with its tape current, when it took one along)."""
    state = _state(key, box)
    if shipped is None:
        record = state.loop.run_until_complete(state.worker.execute(planned))
        return record, _where(), None
    with shipped.play() as player:  # the loop's task copies the context: the tape follows
        record = state.loop.run_until_complete(state.worker.execute(planned))
    return record, _where(), player.returned


class _RunActor:
    """``reuse_workers``: an actor that builds the job once and executes runs one at a time."""

    def __init__(self, key: str, box: list[Any]) -> None:
        self.key = key
        self.box = box
        self.failure = _probe(key, box)

    def problem(self) -> str | None:
        """Why the job could not be built here (None: ready)."""
        return self.failure

    def execute(self, planned: PlannedRun, shipped: ShippedTape | None) -> Outcome:
        return _execute(self.key, self.box, planned, shipped)


# --------------------------------------------------------------------------------------------
# the driver side


class RayExecutor(Executor):
    """Submits each planned run to a Ray cluster; records come back as runs complete."""

    name = "ray"
    remote = True

    def __init__(
        self,
        job: RemoteJob,
        settings: ExecutorSettings,
        *,
        lost: LostRun,
        parallel: int,
        max_retries: int,
        retry_delay: float,
        info: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.job = job
        self.settings = settings
        self.lost = lost
        self.parallel = max(1, parallel)
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.info = info
        self._ray: ModuleType | None = None
        self._connected = False
        self._box: list[Any] = []
        self._remote: Any = None
        self._actors: list[Any] = []
        self._idle: asyncio.Queue[Any] | None = None
        self._slots = 1
        self._nodes = 0
        self._address = ""
        self._in_flight: set[Any] = set()
        self._cancelled = False
        self._errors: ModuleType | None = None  # ray.exceptions

    # -- prepare -------------------------------------------------------------------------------

    def _options(self) -> dict[str, Any]:
        s = self.settings
        options: dict[str, Any] = {"num_cpus": s.num_cpus_per_run}
        if s.num_gpus_per_run:
            options["num_gpus"] = s.num_gpus_per_run
        if s.resources:
            options["resources"] = dict(s.resources)
        return options

    def _runtime_env(self) -> dict[str, Any]:
        """Code only: no environment variables (secrets travel with the job, as task data)."""
        return {
            "working_dir": str(self.job.code_dir),
            "excludes": [*SHIPPING_EXCLUDES, *self.job.private_paths, *self.settings.excludes],
        }

    def prepare(self) -> None:
        ray = self._ray = _ray()
        self._errors = importlib.import_module("ray.exceptions")
        address = self.settings.address
        if address:
            _check_reachable(address)
        code_dir = self.job.code_dir
        if not code_dir.is_dir():
            raise ConfigError(
                f"runner.working_directory: directory not found: {code_dir}",
                key="runner.working_directory",
            )
        kwargs: dict[str, Any] = {}
        if address in (None, "local"):
            kwargs["include_dashboard"] = False  # a local instance for this experiment only
        try:
            ctx = ray.init(
                address=None if address in (None, "local") else address,
                runtime_env=self._runtime_env(),
                logging_level="WARNING",
                log_to_driver=False,  # worker output stays in Ray's logs, not on the progress line
                **kwargs,
            )
        except ConfigError:
            raise
        except Exception as exc:
            where = address or "a local Ray instance"
            raise ConfigError(
                f"--executor ray: cannot connect to {where}: {_one_line(exc)}",
                key="runner.executor.address",
            ) from None
        self._connected = True
        self._address = str(getattr(ctx, "address_info", {}).get("gcs_address") or address or "")
        self._box = [ray.put(self.job)]
        fitting = self._fitting_nodes(ray)
        if self.settings.reuse_workers:
            self._start_actors(ray)
        else:
            self._check_workers(ray, fitting)
            # SPREAD: runs go round the nodes instead of filling the driver's node first
            self._remote = ray.remote(
                **self._options(), max_retries=0, scheduling_strategy="SPREAD"
            )(_execute)
        self.info(
            f"[fluxloop] Ray: {self._nodes} node(s), {self._slots} run slot(s)"
            f"{', reusing workers' if self.settings.reuse_workers else ''}"
            f", up to {self.capacity} runs in flight"
        )

    def _fitting_nodes(self, ray: ModuleType) -> list[dict[str, Any]]:
        """The live nodes that can take a run, and the cluster's run slots."""
        need = self._options()
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        fitting = [n for n in nodes if self._fits(n.get("Resources") or {}, need)]
        if not fitting:
            raise ConfigError(
                f"runner.executor: no Ray node has the resources a run asks for ({need})",
                key="runner.executor",
            )
        self._nodes = len(fitting)
        slots = 0
        for n in fitting:
            res = n.get("Resources") or {}
            per_node = [res.get(k, 0.0) / v for k, v in self._flat(need).items() if v > 0]
            slots += int(min(per_node)) if per_node else self.parallel
        self._slots = max(1, slots)
        return fitting

    def _start_actors(self, ray: ModuleType) -> None:
        """One actor per run slot, each building the job once: a problem fails here."""
        actor_cls = ray.remote(**self._options(), max_restarts=0)(_RunActor)
        self._actors = [actor_cls.remote(self.job.key, self._box) for _ in range(self._slots)]
        try:
            problems = ray.get(
                [a.problem.remote() for a in self._actors], timeout=PREPARE_TIMEOUT_SECONDS
            )
        except Exception as exc:
            raise ConfigError(
                f"runner.executor.reuse_workers: the actors could not start: {_one_line(exc)}",
                key="runner.executor.reuse_workers",
            ) from None
        for problem in problems:
            if problem is not None:
                raise ConfigError(f"on a Ray worker: {problem}", key="runner.target")

    def _check_workers(self, ray: ModuleType, fitting: list[dict[str, Any]]) -> None:
        """Resolve the target on every node that can take a run (this also starts a worker)."""
        strategies = importlib.import_module("ray.util.scheduling_strategies")
        need = self._options()
        probe = ray.remote(**need, max_retries=0)(_probe)
        refs = {
            probe.options(
                scheduling_strategy=strategies.NodeAffinitySchedulingStrategy(
                    node_id=n["NodeID"], soft=False
                )
            ).remote(self.job.key, self._box): n
            for n in fitting
        }
        try:
            answers = ray.get(list(refs), timeout=PREPARE_TIMEOUT_SECONDS)
        except Exception as exc:
            raise ConfigError(
                f"--executor ray: the workers could not start the target: {_one_line(exc)}",
                key="runner.target",
            ) from None
        for node, answer in zip(refs.values(), answers, strict=True):
            if answer is not None:
                where = f"{node.get('NodeManagerAddress')} ({str(node.get('NodeID'))[:8]})"
                raise ConfigError(f"on Ray node {where}: {answer}", key="runner.target")

    @staticmethod
    def _flat(need: dict[str, Any]) -> dict[str, float]:
        flat = {"CPU": float(need.get("num_cpus") or 0), "GPU": float(need.get("num_gpus") or 0)}
        flat.update({k: float(v) for k, v in (need.get("resources") or {}).items()})
        return flat

    def _fits(self, resources: dict[str, float], need: dict[str, Any]) -> bool:
        return all(resources.get(k, 0.0) >= v for k, v in self._flat(need).items() if v > 0)

    # -- runs ----------------------------------------------------------------------------------

    @property
    def capacity(self) -> int:
        if self.settings.max_in_flight:
            return self.settings.max_in_flight
        if self.settings.reuse_workers:
            return max(1, len(self._actors))
        # twice the slots: the next run is already queued on a worker when one finishes
        return max(self.parallel, 2 * self._slots)

    def submit(self, planned: PlannedRun) -> asyncio.Future[RunRecord]:
        return asyncio.ensure_future(self._run(planned))

    async def _call(self, planned: PlannedRun, shipped: ShippedTape | None) -> Outcome:
        if not self._actors:
            ref = self._remote.remote(self.job.key, self._box, planned, shipped)
            return await self._await(ref)
        if self._idle is None:
            self._idle = asyncio.Queue()
            for actor in self._actors:
                self._idle.put_nowait(actor)
        actor = await self._idle.get()
        healthy = True
        try:
            return await self._await(actor.execute.remote(planned, shipped))
        except asyncio.CancelledError:
            raise
        except Exception:
            healthy = False  # a dead actor leaves the pool; a new one takes its place
            raise
        finally:
            if healthy:
                self._idle.put_nowait(actor)
            else:
                self._replace(actor)

    def _replace(self, actor: Any) -> None:
        assert self._ray is not None and self._idle is not None
        with contextlib.suppress(Exception):
            self._ray.kill(actor)
        if actor in self._actors:
            self._actors.remove(actor)
        if self._cancelled:
            return
        actor_cls = self._ray.remote(**self._options(), max_restarts=0)(_RunActor)
        fresh = actor_cls.remote(self.job.key, self._box)
        self._actors.append(fresh)
        self._idle.put_nowait(fresh)

    async def _await(self, ref: Any) -> Outcome:
        self._in_flight.add(ref)
        try:
            result: Outcome = await asyncio.wrap_future(ref.future())
            return result
        except asyncio.CancelledError:
            self._cancel_ref(ref)
            raise
        finally:
            self._in_flight.discard(ref)

    def _cancel_ref(self, ref: Any) -> None:
        assert self._ray is not None
        with contextlib.suppress(Exception):
            self._ray.cancel(ref, force=not self._actors)

    async def _run(self, planned: PlannedRun) -> RunRecord:
        exceptions = self._errors
        assert exceptions is not None
        lost: list[dict[str, Any]] = []
        shipped = self.tapes.ship(planned) if self.tapes is not None else None
        while True:
            started = time.perf_counter()
            try:
                record, where, returned = await self._call(planned, shipped)
            except exceptions.RayTaskError as exc:
                # the worker could not execute the run at all (e.g. a node that joined later
                # cannot import the target): that run fails with the cause, the rest go on
                cause = exc.as_instanceof_cause()
                lost.append(_lost_attempt(len(lost) + 1, cause, started))
                return self.lost(planned, WorkerLostError(cause), lost)
            except exceptions.RayError as exc:
                if self._cancelled:
                    raise asyncio.CancelledError from None
                lost.append(_lost_attempt(len(lost) + 1, exc, started))
                if len(lost) <= self.max_retries:
                    delay = min(self.retry_delay * (2 ** (len(lost) - 1)), MAX_BACKOFF_SECONDS)
                    if delay > 0:
                        await asyncio.sleep(delay)
                    continue
                return self.lost(planned, WorkerLostError(exc), lost)
            if self.tapes is not None and shipped is not None and returned is not None:
                self.tapes.receive(shipped, returned, record)
            line = record.line
            line["executor"] = where
            if lost:
                line["attempt_errors"] = [*lost, *(line.get("attempt_errors") or [])]
                line["attempts"] = int(line.get("attempts") or 1) + len(lost)
            return record

    def cancel(self) -> None:
        self._cancelled = True
        for ref in list(self._in_flight):
            self._cancel_ref(ref)
        if self._ray is not None:
            for actor in self._actors:
                with contextlib.suppress(Exception):
                    self._ray.kill(actor)

    def close(self) -> None:
        if self._ray is None or not self._connected:
            return
        for actor in self._actors:
            with contextlib.suppress(Exception):
                self._ray.kill(actor)
        with contextlib.suppress(Exception):
            self._ray.shutdown()
        self._connected = False

    def describe(self) -> dict[str, Any]:
        s = self.settings
        return {
            "type": "ray",
            "address": self._address or s.address,
            "nodes": self._nodes,
            "run_slots": self._slots,
            "max_in_flight": self.capacity,
            "num_cpus_per_run": s.num_cpus_per_run,
            "num_gpus_per_run": s.num_gpus_per_run,
            "resources": dict(s.resources),
            "reuse_workers": s.reuse_workers,
        }


class WorkerLostError(Exception):
    """A run never came back from Ray: its worker or node was lost, or the worker failed.

    The message is the Ray error's type and first line (the record's ``error.message``).
    """

    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"{type(cause).__name__}: {_first_line(cause)}")


def _one_line(exc: BaseException) -> str:
    first = _first_line(exc)
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _lost_attempt(attempt: int, exc: BaseException, started: float) -> dict[str, Any]:
    return {
        "attempt": attempt,
        "status": "error",
        "type": type(exc).__name__,
        "message": _first_line(exc),
        "duration_ms": round((time.perf_counter() - started) * 1000.0, 3),
    }
