"""The Ray backend: the same server (auth, job store, events, the contract) in front of a Ray cluster.

`inkmotion serve --backend ray [--ray-address ADDR]`: ADDR is `auto` (the cluster this machine is
part of), a head's `HOST:PORT`, or none, to start a local cluster in this process. Ray is an
optional extra (`pip install -e '.[ray]'`).

Workers are Ray actors (`WorkerActor`), one per GPU of the cluster (each asks for `num_gpus=1`;
inside, jobs run on CUDA where torch sees it, else on the CPU: a cluster with fake GPU resources
places work the same way) or, with `--device cpu`, one per CPU slot (`num_cpus=1`; `--ray-workers N`
caps the count). Each runs one job at a time and keeps its models loaded (inkmotion.models.CACHE in
its own process).

What stays the server's, exactly as with the local backend: the queue's order and fair share
(`scheduling.FairQueue`, recovered from the job store), every state change and event (through the
`Executor`), and the result store. Here the server only chooses the worker: one that is free and
already holds the job's model when there is one (model affinity), else the free one holding the
fewest models (least loaded), never one that failed to load that model before.

A job on a worker: `WorkerActor.run` decodes and checks the stored request again (the worker is
another process, maybe another machine), runs it through `executor.execute`, and hands back each
keyframe as an object of its own in Ray's object store; the server's follower thread for that
worker polls the actor's progress every `POLL_SECONDS` (the Executor throttles what watchers hear),
asks it to cancel (it stops within one step, as in process), and writes the keyframes into the job
store one at a time, never the whole result in memory.

Faults: a worker whose process or node dies mid-job loses the job back to the queue (once: the
job's attempts are counted as for a server restart, then it is marked interrupted) and a new actor
is started in its place, wherever the cluster has room. A server restart re-queues what ran
(`JobStore.recover`): the actors of the previous server die with it (Ray ends an actor with its
owner), so nothing it ran can finish twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass, field

from inkmotion import tasks
from inkmotion.backends.base import QueueBackend, loaded_models
from inkmotion.backends.local import DeviceThread
from inkmotion.errors import Cancelled, InvalidInput, ModelUnavailable
from inkmotion.events import EventHub
from inkmotion.executor import Attempt, Result
from inkmotion.jobs import FAILED, QUEUED, RUNNING, JobStore, StoreFailure
from inkmotion.limits import Limits
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import drawing_pb2

log = logging.getLogger("inkmotion.ray")

POLL_SECONDS = 0.1  # how often a follower asks its worker for progress
START_FAILURES = 3  # workers in a row dying while starting: start no more
MONITOR_SECONDS = 2.0  # how often the cluster's size (and lost workers) is looked at
NAMESPACE = "inkmotion"
# What a worker needs of the server's environment: the models config, the hub and LoRA caches,
# where plugins are found.
ENV_PREFIXES = ("INKMOTION_", "HF_", "HUGGINGFACE_", "XDG_", "TRANSFORMERS_")
ENV_NAMES = ("PYTHONPATH", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")


def import_ray():
    """The `ray` module, or one clear line saying how to get it."""
    try:
        import ray
    except ImportError:
        raise InvalidInput("--backend", "ray is not installed here: pip install -e '.[ray]' (or pip install ray), "
                                        "or run with the default --backend local") from None
    return ray


def _reachable(address: str | None, timeout: float = 1.0) -> bool:
    """Whether something listens at HOST:PORT (the GCS): a cheap check that never blocks long."""
    import socket

    if not address:
        return True
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def _last_line(exc: BaseException) -> str:
    """An error from a worker in one line: the original exception's last line, not Ray's traceback."""
    text = str(exc).strip().splitlines()
    return text[-1].strip() if text else type(exc).__name__


# -- the worker: a Ray actor ------------------------------------------------------------------------

class WorkerActor:
    """One device running one job at a time, its models resident. Threaded (max_concurrency > 1):
    `poll` and `cancel` are answered while `run` works."""

    def __init__(self, device: str, limits: dict, plugins: list[str], env: dict[str, str]):
        import sys

        os.environ.update(env)  # (the process started with them too: runtime_env)
        for folder in reversed(env.get("PYTHONPATH", "").split(os.pathsep)):
            if folder and folder not in sys.path:
                sys.path.insert(0, folder)
        tasks.load_plugins(plugins)
        self.limits = Limits(**limits)
        self.device = device
        if device == "auto":  # a GPU slot: CUDA where torch sees it (Ray set CUDA_VISIBLE_DEVICES)
            import torch

            self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self._lock = threading.Lock()
        self._events: dict[str, list] = {}
        self._cancelled: set[str] = set()

    def hello(self) -> dict:
        import ray

        from inkmotion.devices import describe

        return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(), "device": self.device,
                "info": describe(self.device).SerializeToString()}

    def run(self, job_id: str, submission: bytes) -> dict:
        """The job to its end: {"ok": True, info, keyframes (one object ref each), seconds, models}
        or {"ok": False, "kind": cancelled | unavailable | invalid | error, "message"}."""
        import ray

        from inkmotion.executor import execute

        with self._lock:
            self._events[job_id] = []
        try:
            request = service_pb2.SubmitJobRequest.FromString(submission)
            checked = tasks.check_submission(request, self.limits)
            result = execute(checked, self.device, lambda p: self._progress(job_id, p))
            return {"ok": True, "info": result.info.SerializeToString(), "seconds": result.pipeline_seconds,
                    "keyframes": [ray.put(k) for k in result.keyframes], "models": loaded_models(self.device)}
        except Cancelled:
            return {"ok": False, "kind": "cancelled", "message": "cancelled", "models": loaded_models(self.device)}
        except ModelUnavailable as exc:
            return {"ok": False, "kind": "unavailable", "message": str(exc), "models": loaded_models(self.device)}
        except (InvalidInput, tasks.TaskUnavailable) as exc:
            return {"ok": False, "kind": "invalid", "message": str(exc), "models": loaded_models(self.device)}
        except Exception as exc:  # the job's failure, said as the local backend says it
            log.exception("job %s failed on its worker", job_id)
            return {"ok": False, "kind": "error", "message": f"{type(exc).__name__}: {exc}",
                    "models": loaded_models(self.device)}
        finally:
            with self._lock:
                self._cancelled.discard(job_id)

    def _progress(self, job_id: str, progress) -> None:
        with self._lock:
            if job_id in self._cancelled:
                raise Cancelled()
            self._events.setdefault(job_id, []).append(progress)

    def poll(self, job_id: str) -> list:
        """The progress reports since the last poll (inkmotion.pipelines.base.Progress)."""
        with self._lock:
            events, self._events[job_id] = self._events.get(job_id, []), []
            return events

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancelled.add(job_id)

    def models(self) -> list[str]:
        return loaded_models(self.device)


# -- the server's side ------------------------------------------------------------------------------

@dataclass
class Slot:
    """One worker as the server follows it."""

    index: int
    actor: object = None
    ready: object = None  # the ObjectRef of its `hello` while it starts
    name: str = ""
    node: str = ""
    device: str = ""
    info: service_pb2.DeviceInfo = field(default_factory=service_pb2.DeviceInfo)
    state: int = service_pb2.WORKER_STATE_STARTING
    job_id: str = ""
    jobs_done: int = 0
    models: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)  # model -> why it would not load here
    detail: str = ""
    thread: DeviceThread | None = None

    def describe(self) -> service_pb2.WorkerInfo:
        return service_pb2.WorkerInfo(name=self.name or f"worker-{self.index}", node=self.node, device=self.info,
                                      state=self.state, models=self.models, job_id=self.job_id,
                                      jobs_done=self.jobs_done, detail=self.detail)


class _Keyframes:
    """A result's keyframes, fetched from the object store one at a time as they are written."""

    def __init__(self, ray, refs: list):
        self._ray, self._refs = ray, refs

    def __len__(self) -> int:
        return len(self._refs)

    def __iter__(self):
        for ref in self._refs:
            yield self._ray.get(ref)


class RayBackend(QueueBackend):
    name = "ray"

    def __init__(self, store: JobStore, hub: EventHub, devices: list[str], limits: Limits, *, max_attempts: int = 2,
                 address: str | None = None, device: str = "auto", workers: int | None = None,
                 plugins: list[str] | None = None, local_cpus: int | None = None,
                 progress_save_interval: float = 0.5, progress_event_interval: float = 0.05):
        self.ray = import_ray()
        super().__init__(store, hub, limits, max_attempts=max_attempts, progress_save_interval=progress_save_interval,
                         progress_event_interval=progress_event_interval)
        self.address = address
        self.device_request = "cpu" if device == "cpu" else "auto"
        self.max_workers = workers
        self.plugins = list(plugins or [])
        self.local_cpus = local_cpus
        self.slots: list[Slot] = []
        self._running: dict[str, Attempt] = {}
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._draining = False
        self._actor_class = None
        self._start_failures = 0  # workers in a row that died while starting
        self.connected = False
        self._next_index = 0
        self._gcs: str | None = None  # HOST:PORT of the cluster's GCS (an external cluster's)

    # -- starting -----------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self._connect)
        self.recover_queue()
        self._wake = asyncio.Event()
        await asyncio.to_thread(self._grow)
        self._tasks = [asyncio.create_task(self._dispatch(), name="ray-dispatch"),
                       asyncio.create_task(self._monitor(), name="ray-monitor"),
                       asyncio.create_task(self.publish_positions(), name="queue-positions")]
        self._wake.set()

    def _connect(self) -> None:
        ray = self.ray
        options = {"namespace": NAMESPACE, "log_to_driver": False, "configure_logging": False}
        if self.address:
            ray.init(address=self.address, **options)
            self._gcs = ray.get_runtime_context().gcs_address  # watched: a cluster can go away
        else:  # a local cluster, started here and ended with the server
            ray.init(num_cpus=self.local_cpus or os.cpu_count(), include_dashboard=False, **options)
        self.connected = True
        self._start_failures = 0
        env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES) or k in ENV_NAMES}
        resources = {"num_cpus": 1} if self.device_request == "cpu" else {"num_cpus": 0, "num_gpus": 1}
        self._actor_class = ray.remote(max_concurrency=4, max_restarts=0, **resources)(WorkerActor).options(
            runtime_env={"env_vars": env})
        self._actor_args = (self.device_request, asdict(self.limits), self.plugins, env)
        log.info("ray: connected to %s (%s); workers: one per %s", self.address or "a local cluster",
                 ray.cluster_resources(), "CPU" if self.device_request == "cpu" else "GPU")

    def _capacity(self) -> int:
        """How many workers the cluster's live nodes have room for."""
        resource = "CPU" if self.device_request == "cpu" else "GPU"
        total = int(sum(n["Resources"].get(resource, 0) for n in self.ray.nodes() if n.get("Alive")))
        return min(total, self.max_workers) if self.max_workers else total

    def _grow(self) -> None:
        """Start workers until the cluster's live resources are used (blocking Ray calls); not
        after START_FAILURES workers in a row died while starting (a broken install: said once,
        in the log and in `inkmotion cluster`, not retried for ever)."""
        if self._start_failures >= START_FAILURES:
            return
        lost = [s for s in self.slots if s.state == service_pb2.WORKER_STATE_LOST and not s.job_id]
        for slot in lost[:max(0, len(lost) - 8)]:  # the last few lost stay listed, for `inkmotion cluster`
            self.slots.remove(slot)
        live = [s for s in self.slots if s.state != service_pb2.WORKER_STATE_LOST]
        for _ in range(self._capacity() - len(live)):
            self._next_index += 1
            slot = Slot(index=self._next_index - 1)
            slot.actor = self._actor_class.remote(*self._actor_args)
            slot.ready = slot.actor.hello.remote()
            slot.thread = DeviceThread(f"inkmotion-ray-{slot.index}")
            self.slots.append(slot)

    def _settle_starting(self) -> None:
        """Workers that have answered `hello` take work from now on."""
        ray = self.ray
        for slot in self.slots:
            if slot.state != service_pb2.WORKER_STATE_STARTING or slot.ready is None:
                continue
            ready, _ = ray.wait([slot.ready], timeout=0)
            if not ready:
                continue
            try:
                hello = ray.get(slot.ready)
            except Exception as exc:  # it died while starting
                self._start_failures += 1
                self._lose(slot, f"did not start: {_last_line(exc)}")
                if self._start_failures == START_FAILURES:
                    log.error("ray: %d workers in a row died while starting; starting no more: %s",
                              START_FAILURES, _last_line(exc))
                continue
            self._start_failures = 0
            slot.ready = None
            slot.node, slot.device = hello["node"], hello["device"]
            slot.info = service_pb2.DeviceInfo.FromString(hello["info"])
            slot.name = f"node-{slot.node[:6]}:{slot.device}:{slot.index}"
            slot.state, slot.detail = service_pb2.WORKER_STATE_IDLE, f"pid {hello['pid']}"
            log.info("ray: worker %s ready (pid %s)", slot.name, hello["pid"])

    def _lose(self, slot: Slot, why: str) -> None:
        slot.state, slot.detail, slot.job_id = service_pb2.WORKER_STATE_LOST, why, ""
        log.warning("ray: worker %s lost: %s", slot.name or slot.index, why)

    async def _monitor(self) -> None:
        while not self._draining:
            if self.connected and self._gcs is not None and not await asyncio.to_thread(_reachable, self._gcs):
                await asyncio.to_thread(self._disconnect, f"the Ray cluster at {self.address} does not answer")
            if not self.connected:
                if await asyncio.to_thread(_reachable, self._gcs):
                    try:
                        await asyncio.to_thread(self._connect)
                        self.on_health(True, f"the Ray cluster at {self.address} is back")
                    except Exception as exc:
                        log.warning("ray: the cluster answers but cannot be joined yet: %s", _last_line(exc))
                await asyncio.sleep(MONITOR_SECONDS)
                continue
            try:
                await asyncio.to_thread(self._settle_starting)
                await asyncio.to_thread(self._grow)
            except Exception:
                log.exception("ray: looking at the cluster failed")
            self._wake.set()
            await asyncio.sleep(MONITOR_SECONDS if all(s.state != service_pb2.WORKER_STATE_STARTING for s in self.slots)
                                else 0.2)

    def _disconnect(self, why: str) -> None:
        """The cluster went away: say so (health NOT_SERVING), give running jobs back to the queue,
        and leave Ray before its driver gives up on the GCS and ends this process (60 s)."""
        self.connected = False
        self.on_health(False, why)
        for slot in self.slots:
            if slot.state != service_pb2.WORKER_STATE_LOST:
                self._lose(slot, why)
        for attempt in list(self._running.values()):
            attempt.lost = why  # the follower re-queues it when its Ray call fails
        try:
            self.ray.shutdown()
        except Exception as exc:
            log.warning("ray: leaving the cluster: %s", _last_line(exc))

    # -- Backend ------------------------------------------------------------------------------

    def notify_queued(self, record, checked=None) -> None:
        self.queue.add(record.id, record.owner, record.priority, record.seq)
        self.positions_moved.set()
        if self._wake is not None:
            self._wake.set()

    def cancel(self, job_id: str) -> None:
        running = self._running.get(job_id)
        if running is not None:
            running.cancel.set()  # the follower tells the worker at its next poll
            log.info("job %s: cancel requested, stops after the current step on its worker", job_id)
            return
        if self.executor.cancel_queued(job_id):
            self.queue.remove(job_id)
            self.positions_moved.set()

    async def drain(self, timeout: float) -> None:
        self._draining = True
        if self._wake is not None:
            self._wake.set()
        deadline = time.monotonic() + timeout
        while self._running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for running in list(self._running.values()):
            running.shutdown = True
            running.cancel.set()
        grace = time.monotonic() + 5.0
        while self._running and time.monotonic() < grace:
            await asyncio.sleep(0.05)
        for job_id in list(self._running):
            self.executor.stopped_by_shutdown(job_id)
        for task in self._tasks:
            task.cancel()
        for slot in self.slots:
            if slot.thread is not None:
                slot.thread.stop()
        await asyncio.to_thread(self.ray.shutdown)

    def stuck(self) -> bool:
        return False

    def devices(self) -> list[service_pb2.DeviceInfo]:
        return [s.info for s in self.slots if s.state in (service_pb2.WORKER_STATE_IDLE, service_pb2.WORKER_STATE_BUSY)]

    def workers(self) -> list[service_pb2.WorkerInfo]:
        return [slot.describe() for slot in list(self.slots)]

    # -- choosing and running -----------------------------------------------------------------

    def choose(self, model: str) -> Slot | None:
        """The worker for a job of `model`: a free one holding it, else the free one holding the
        fewest models (then the one that ran fewest jobs); never one that could not load it."""
        free = [s for s in self.slots if s.state == service_pb2.WORKER_STATE_IDLE and model not in s.refused]
        if not free:
            return None
        holding = [s for s in free if model in s.models]
        return min(holding or free, key=lambda s: (len(s.models), s.jobs_done, s.index))

    def _refused_everywhere(self, model: str) -> str:
        """Why no live worker can run `model` ("" while one might)."""
        live = [s for s in self.slots if s.state != service_pb2.WORKER_STATE_LOST]
        if live and all(model in s.refused for s in live):
            return next(iter(live)).refused[model]
        return ""

    async def _dispatch(self) -> None:
        while not self._draining:
            started = False
            for job_id in list(self.queue.order()) if self.connected else ():
                record = self.store.get(job_id)
                if record is None or record.state != QUEUED:
                    self.queue.remove(job_id)
                    continue
                why = self._refused_everywhere(record.model)
                if why:  # every worker has failed to load it: say so, do not wait for ever
                    self.queue.remove(job_id)
                    self.store.finish(job_id, FAILED, error=f"no worker can load model {record.model!r}: {why}",
                                      from_states=(QUEUED,))
                    self.executor.publish_state(job_id)
                    continue
                slot = self.choose(record.model)
                if slot is None:
                    continue  # the free workers cannot run this one; a later job may fit
                if not self.store.mark_running(job_id, slot.name):
                    self.queue.remove(job_id)
                    continue
                self.queue.started(job_id)
                self.positions_moved.set()
                self._start(slot, self.store.get(job_id))
                started = True
            if not started:
                self._wake.clear()
                await self._wake.wait()

    def _start(self, slot: Slot, job) -> None:
        attempt = Attempt(job.id, slot.name)
        self._running[job.id] = attempt
        slot.state, slot.job_id = service_pb2.WORKER_STATE_BUSY, job.id
        log.info("job %s: started on %s (%s, attempt %d)", job.id, slot.name, job.name, job.attempts)
        self.executor.publish_state(job.id)
        asyncio.ensure_future(self._run(slot, attempt, job.model))

    async def _run(self, slot: Slot, attempt: Attempt, model: str) -> None:
        try:
            await slot.thread.run(self._follow, slot, attempt, model)
        except Exception:
            log.exception("job %s: follower error", attempt.job_id)
            try:
                self.store.finish(attempt.job_id, FAILED, error="internal error in the ray backend",
                                  from_states=(RUNNING,))
            except StoreFailure:
                pass
        finally:
            self._running.pop(attempt.job_id, None)
            if slot.state == service_pb2.WORKER_STATE_BUSY:
                slot.state, slot.job_id = service_pb2.WORKER_STATE_IDLE, ""
            slot.jobs_done += 1
            self.executor.publish_state(attempt.job_id)
            self._wake.set()

    def _follow(self, slot: Slot, attempt: Attempt, model: str) -> None:
        """On the worker's follower thread: run the job there, relay progress and cancellation,
        store what comes back. Every ending lands in the store."""
        ray = self.ray
        job_id = attempt.job_id
        try:
            attempt.job = self.store.get(job_id).to_proto()  # as it started: progress events update a copy
            submission = self.store.request(job_id)  # decoded and checked again on the worker
            ref = slot.actor.run.remote(job_id, submission)
            told = False
            while True:
                ready, _ = ray.wait([ref], timeout=POLL_SECONDS)
                for progress in ray.get(slot.actor.poll.remote(job_id)):
                    try:
                        self.executor.progress(attempt, progress)
                    except Cancelled:
                        break
                if attempt.cancel.is_set() and not told:
                    slot.actor.cancel.remote(job_id)
                    told = True
                if ready:
                    break
            out = ray.get(ref)
        except Exception as exc:
            if not (isinstance(exc, ray.exceptions.RayActorError) or attempt.lost):
                self.executor.ended(attempt, exc)
                return
            # Its process or node died, or the whole cluster went away.
            why = attempt.lost or f"worker {slot.name} was lost"
            if slot.state != service_pb2.WORKER_STATE_LOST:
                self._lose(slot, f"{type(exc).__name__}: the worker's process ended")
            self.executor.stopped_by_shutdown(job_id, why=why)
            record = self.store.get(job_id)
            if record is not None and record.state == QUEUED:
                self.queue.add(record.id, record.owner, record.priority, record.seq)
            return
        slot.models = out.get("models", slot.models)
        if out["ok"]:
            if attempt.cancel.is_set():
                self.executor.ended(attempt, Cancelled())
                return
            info = drawing_pb2.AnimationInfo.FromString(out["info"])
            self.executor.finished(attempt, Result(info, _Keyframes(ray, out["keyframes"]), out["seconds"]))
            return
        kind, message = out["kind"], out["message"]
        if kind == "unavailable":
            slot.refused[model] = message
        if kind == "error":
            self.executor.failed(attempt, message)
            return
        error = {"cancelled": Cancelled(), "unavailable": ModelUnavailable(message)}.get(kind) or InvalidInput("", message)
        self.executor.ended(attempt, error)


# -- a cluster on this machine --------------------------------------------------------------------

class LocalCluster:
    """Ray nodes on this machine, each `ray start --block` in a process group of its own, so that
    `stop()` ends exactly the processes this started (never another cluster's): for trying the
    backend out, the tests and scripts/bench_cluster.py. Each node is a dict of `ray start`
    options: num_cpus, num_gpus (fake GPUs place "GPU" work without one), resources."""

    def __init__(self, nodes: list[dict], port: int | None = None, temp_dir: str | None = None):
        import socket

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.port, self.nodes, self.temp_dir = port, nodes, temp_dir
        self.processes: list = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _command(self, node: dict, head: bool) -> list[str]:
        import json
        import shutil

        ray = shutil.which("ray") or "ray"
        command = [ray, "start", "--block", "--disable-usage-stats"]
        command += ["--head", f"--port={self.port}", "--include-dashboard=false"] if head else [f"--address={self.address}"]
        if head and self.temp_dir:
            command.append(f"--temp-dir={self.temp_dir}")
        command += [f"--num-cpus={node.get('num_cpus', 1)}", f"--num-gpus={node.get('num_gpus', 0)}"]
        if node.get("resources"):
            command.append(f"--resources={json.dumps(node['resources'])}")
        return command

    def start(self, timeout: float = 90.0) -> "LocalCluster":
        for i, node in enumerate(self.nodes):
            self.add(node, head=i == 0)
            self.wait_for_nodes(i + 1, timeout)
        return self

    def add(self, node: dict, head: bool = False):
        """Start one more node (the head first): its `ray start --block` process."""
        process = self._spawn(node, head)
        self.processes.append(process)
        return process

    def restart_node(self, index: int) -> None:
        """Start a stopped node again, as it was (the head on its port: the cluster comes back)."""
        self.stop_node(index)
        self.processes[index] = self._spawn(self.nodes[index], head=index == 0)

    def _spawn(self, node: dict, head: bool):
        import subprocess

        return subprocess.Popen(self._command(node, head), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def alive_nodes(self) -> int:
        """How many nodes the cluster counts alive (asked from a throwaway driver process)."""
        import subprocess
        import sys

        code = ("import ray; ray.init(address=%r, log_to_driver=False, configure_logging=False); "
                "print(sum(1 for n in ray.nodes() if n['Alive']))" % self.address)
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        return int(run.stdout.strip().splitlines()[-1]) if run.returncode == 0 and run.stdout.strip() else 0

    def wait_for_nodes(self, count: int, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while self.alive_nodes() < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the local Ray cluster at {self.address} did not reach {count} node(s) in {timeout:g} s")
            time.sleep(0.5)

    def stop_node(self, index: int, timeout: float = 5.0) -> None:
        """End one node's processes (SIGTERM to its group, then SIGKILL)."""
        import signal
        import subprocess

        process = self.processes[index]
        if process.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(timeout=timeout)
                return
            except subprocess.TimeoutExpired:
                continue

    def stop(self) -> None:
        for index in reversed(range(len(self.processes))):
            self.stop_node(index)

    def __enter__(self) -> "LocalCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
