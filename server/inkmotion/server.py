"""`inkmotion serve`: the gRPC server on embedded defaults (in-process worker, SQLite job store).
The backend that runs jobs is picked by name (`ServerConfig.backend`, inkmotion.backends)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from inkmotion import __version__, tasks
from inkmotion.auth import AuthInterceptor, Authenticator, load_tokens
from inkmotion.backends import backend_class
from inkmotion.checking import CheckPool
from inkmotion.devices import resolve_devices
from inkmotion.errors import InvalidInput
from inkmotion.events import EventHub
from inkmotion.jobs import StoreFailure, open_data_dir
from inkmotion.limits import MiB, Limits
from inkmotion.service import AnimationService, QueuePolicy, add_to_server
from inkmotion.v1 import animation_service_pb2 as service_pb2

log = logging.getLogger("inkmotion.server")

CHECK_PROCESSES = 2  # submissions checked at once (each user has one at a time)
SERVICE_NAME = service_pb2.DESCRIPTOR.services_by_name["AnimationService"].full_name


def default_data_dir() -> Path:
    import os

    if os.environ.get("INKMOTION_DATA"):
        return Path(os.environ["INKMOTION_DATA"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "inkmotion"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 50051
    data_dir: Path = field(default_factory=default_data_dir)
    device: str = "auto"
    backend: str = "local"
    token_file: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_message_mb: int = 64
    drain_timeout: float = 30.0
    max_attempts: int = 2
    plugins: list[str] = field(default_factory=list)
    max_queued_per_user: int = 1000
    check_timeout: float = 10.0
    # The ray backend's: the cluster (None: a local one), and the most workers to start.
    ray_address: str | None = None
    ray_workers: int | None = None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


def _credentials(config: ServerConfig):
    if bool(config.tls_cert) != bool(config.tls_key):
        raise InvalidInput("--tls-cert", "give both --tls-cert and --tls-key, or neither")
    if not config.tls_cert:
        return None
    try:
        cert, key = Path(config.tls_cert).read_bytes(), Path(config.tls_key).read_bytes()
    except OSError as exc:
        raise InvalidInput("--tls-cert", f"cannot read {exc.filename}: {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key, cert)])


class Server:
    """The assembled server; `start()` binds and returns the port, `stop()` drains."""

    def __init__(self, config: ServerConfig):
        self.config = config
        tokens = load_tokens(config.token_file) if config.token_file else None
        if not tokens and not is_loopback(config.host):
            raise InvalidInput(
                "--host",
                f"refusing to listen on {config.host} without --token-file: anyone who can reach it could run "
                "and read jobs. Give a token file, or bind to 127.0.0.1",
            )
        self.credentials = _credentials(config)
        tasks.load_plugins(config.plugins)
        self.auth = Authenticator(tokens)
        self.devices = resolve_devices(config.device)
        self.backend_class = backend_class(config.backend)
        self.limits = Limits(max_message_bytes=config.max_message_mb * MiB)
        self.port: int | None = None

    async def start(self) -> int:
        """Open the data folder (DataDirError if it cannot be used), bind, start the workers."""
        config = self.config
        data_dir = Path(config.data_dir)
        loop = asyncio.get_running_loop()
        self.store = await asyncio.to_thread(
            open_data_dir, data_dir, lambda message: loop.call_soon_threadsafe(self._store_failed, message))
        self.hub = EventHub(loop)
        options = {}
        if config.backend == "ray":
            options = dict(address=config.ray_address, device=config.device, workers=config.ray_workers,
                           plugins=config.plugins)
        self.backend = self.backend_class(self.store, self.hub, self.devices, self.limits,
                                          max_attempts=config.max_attempts, **options)
        policy = QueuePolicy(max_priority=0 if self.auth.required else 10, max_queued=config.max_queued_per_user)
        # Checks run in processes of their own (started with the plugins, in the background).
        self.checks = CheckPool(CHECK_PROCESSES, self.limits, config.plugins, config.check_timeout)
        self.checks.start()
        self.service = AnimationService(self.store, self.hub, self.backend, self.limits, self.auth, self.checks, policy)

        self.grpc = grpc.aio.server(
            interceptors=[AuthInterceptor(self.auth)],
            options=channel_options(self.limits.max_message_bytes),
        )
        add_to_server(self.service, self.grpc)
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.grpc)
        reflection.enable_server_reflection([SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME], self.grpc)

        address = f"[{config.host}]:{config.port}" if ":" in config.host else f"{config.host}:{config.port}"
        try:
            if self.credentials:
                self.port = self.grpc.add_secure_port(address, self.credentials)
            else:
                self.port = self.grpc.add_insecure_port(address)
        except RuntimeError as exc:
            raise InvalidInput("--port", f"cannot listen on {address}: {exc}") from None
        await self.grpc.start()
        self.backend.on_health = lambda serving, why: loop.call_soon_threadsafe(self._backend_health, serving, why)
        await self.backend.start()
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._watchdog = asyncio.create_task(self._watch_store(), name="store-watchdog")
        log.info(
            "InkMotion %s serving on %s:%d (%s, %s backend, devices %s, data %s, auth %s)",
            __version__, config.host, self.port, "TLS" if self.credentials else "plaintext", config.backend,
            ", ".join(self.devices), data_dir, f"{len(self.auth.tokens)} users" if self.auth.required else "off",
        )
        return self.port

    def _store_failed(self, message: str) -> None:
        """The database went bad while serving: health says so, and stays so until a restart."""
        log.error("health: NOT_SERVING (%s)", message)
        for name in ("", SERVICE_NAME):
            asyncio.ensure_future(self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING))

    def _backend_health(self, serving: bool, why: str) -> None:
        """Where jobs run went away (NOT_SERVING; jobs wait) or came back (SERVING, unless the
        job store failed meanwhile)."""
        if serving and self.store.failure is not None:
            return
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        (log.info if serving else log.error)("health: %s (%s)", "SERVING" if serving else "NOT_SERVING", why)
        for name in ("", SERVICE_NAME):
            asyncio.ensure_future(self.health.set(name, status))

    async def _watch_store(self, interval: float = 2.0) -> None:
        """A cheap read now and then, so a database that fails while idle is noticed too."""
        while self.store.failure is None:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(self.store.check)
            except StoreFailure:
                return

    async def stop(self) -> None:
        log.info("stopping: no new jobs; draining")
        self._watchdog.cancel()
        self.service.accepting = False
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.backend.drain(self.config.drain_timeout)
        await self.grpc.stop(grace=2.0)
        self.checks.close()
        if not self.backend.stuck():  # a thread still inside a step may yet touch the store
            self.store.close()
        log.info("stopped")


async def serve(config: ServerConfig) -> None:
    """Serve until SIGTERM or SIGINT, then drain. Returns within the drain timeout plus a few
    seconds; a job step that never ended is left to its (daemon) thread."""
    server = Server(config)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()
    if server.backend.stuck():
        log.warning("a job step was still running at exit; its job is back in the queue")
