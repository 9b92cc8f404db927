"""The gRPC servicer of inkmotion.v1.AnimationService.

It has requests checked (limits and structure, answered INVALID_ARGUMENT) in check processes with
a time budget (inkmotion.checking), applies the queue policy (priority and queued jobs per user, retried submissions by
request id), stores jobs, relays the event hub to watchers and streams results from disk. It never
touches tensors: the backend runs the work, the codec encodes it. Nothing slow runs on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from dataclasses import dataclass

import grpc

from inkmotion import __version__, tasks
from inkmotion.auth import Authenticator
from inkmotion.backends.base import Backend
from inkmotion.checking import MAX_ID_BYTES, CheckerLost, CheckPool, read_envelope
from inkmotion.errors import InvalidInput
from inkmotion.events import EventHub, snapshot_event
from inkmotion.jobs import QUEUED, SUCCEEDED, TERMINAL, DuplicateRequest, JobRecord, JobStore, ResultLost, StoreFailure
from inkmotion.limits import Limits, quoted
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import animation_service_pb2_grpc as service_grpc
from inkmotion.v1 import jobs_pb2

log = logging.getLogger("inkmotion.service")


@dataclass(frozen=True)
class QueuePolicy:
    """What a user may ask of a shared queue, unless the token file grants them more."""

    max_priority: int = 0  # plain users cannot jump the queue (on a server without tokens: 10)
    max_queued: int = 1000  # jobs waiting per user


MAX_PAGE = 500
MAX_JOB_ID = 64  # ids are 32 hex digits; anything much longer is not one
MAX_DETAILS = 1000  # characters of an error's details
_PAGE_TOKEN = re.compile(r"[0-9]{1,18}")  # ASCII digits that fit SQLite's integers
_KEYFRAME_TAG = bytes([service_pb2.GetJobResponse.KEYFRAME_FIELD_NUMBER << 3 | 2])


class AnimationService(service_grpc.AnimationServiceServicer):
    def __init__(self, store: JobStore, hub: EventHub, backend: Backend, limits: Limits, auth: Authenticator,
                 checks: CheckPool, policy: QueuePolicy | None = None):
        self.store = store
        self.hub = hub
        self.backend = backend
        self.limits = limits
        self.auth = auth
        self.policy = policy or QueuePolicy(max_priority=10 if not auth.required else 0)
        self.accepting = True
        self.checks = checks  # parse, decode and trace in processes of their own, each with a time budget
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}  # user -> (their lock, submissions holding or waiting)

    # -- helpers ------------------------------------------------------------------------------

    async def _user(self, context) -> str:
        user = self.auth.user(context.invocation_metadata())
        if user is None:  # the interceptor already refuses these; this guards direct use
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required")
        return user

    async def _own_job(self, job_id: str, context) -> JobRecord:
        user = await self._user(context)
        if not job_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "job_id: is empty")
        if len(job_id) > MAX_JOB_ID:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"job_id: {len(job_id)} characters is over the limit of {MAX_JOB_ID} characters")
        record = await self._store(context, self.store.get, job_id)
        if record is None or (self.auth.required and record.owner != user):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job_id: no job {quoted(job_id)}")
        return record

    async def _store(self, context, method, *args, off_loop: bool = False):
        """A store call (in a thread with `off_loop`, for work too large for the loop: a request's
        bytes, say); a failed database answers UNAVAILABLE (and health says NOT_SERVING)."""
        try:
            return await asyncio.to_thread(method, *args) if off_loop else method(*args)
        except StoreFailure as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"the job store is unavailable: {exc}")

    # -- RPCs ---------------------------------------------------------------------------------

    async def GetCapabilities(self, request, context):
        await self._user(context)
        # Model availability looks at the hub cache on disk: off the loop.
        return await asyncio.to_thread(self._capabilities)

    def _capabilities(self) -> service_pb2.GetCapabilitiesResponse:
        response = service_pb2.GetCapabilitiesResponse(
            server_version=__version__,
            devices=self.backend.devices(),
            limits=self.limits.to_proto(),
            auth_required=self.auth.required,
            backend=self.backend.name,
            workers=self.backend.workers(),
        )
        for spec in tasks.registry().values():
            response.tasks.append(spec.describe(self.limits))
            for model in spec.models:
                description, source, available = tasks.model_info(spec, model)
                response.models.add(name=model, task=spec.task, task_name=spec.name, description=description,
                                    source=source, available=available)
        return response

    async def SubmitJob(self, data: bytes, context):
        # The request arrives unparsed (see add_to_server). The server reads only its top level;
        # the check process parses and decodes it, and the store keeps the bytes as they came.
        user = await self._user(context)
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; submit again once it is back")
        try:
            request = read_envelope(data)
        except ValueError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"request: not a valid {service_pb2.SubmitJobRequest.DESCRIPTOR.full_name} ({exc})")
        # Cheap refusals first, before anything is decoded.
        if request.request_id_bytes > MAX_ID_BYTES or len(request.request_id) > tasks.MAX_REQUEST_ID:
            size = f"{len(request.request_id)} characters" if request.request_id else f"{request.request_id_bytes} bytes"
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"request_id: {size} is over the limit of {tasks.MAX_REQUEST_ID} characters")
        if request.request_id:
            earlier = await self._store(context, self.store.by_request_id, user, request.request_id)
            if earlier is not None:
                return await self._repeat(earlier, data, request.request_id, context)
        grant = self.auth.grant(user)
        max_priority = self.policy.max_priority if grant.max_priority is None else grant.max_priority
        if request.priority > max_priority and -10 <= request.priority <= 10:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"priority: {request.priority} is over the limit of {max_priority} for user {user!r}"
                                " (a token file's max-priority can grant more)")
        max_queued = self.policy.max_queued if grant.max_queued is None else grant.max_queued
        # One submission at a time per user is checked and queued: a user sending heavy inputs
        # holds one check process, never all of them, and cannot overrun the queued-jobs limit
        # with submissions sent together.
        async with self._turn(user):
            waiting = self.backend.queued_count(user)
            if waiting >= max_queued:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                    f"user {user!r} has {waiting} jobs queued, the limit of {max_queued} "
                                    "(--max-queued-per-user, or max-queued in the token file); wait for some to finish")
            try:
                checked = await self.checks.check(data)
            except InvalidInput as exc:
                log.info("refused a job from %s: %s", user, exc)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, capped(str(exc)))
            except tasks.TaskUnavailable as exc:
                await context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
            except CheckerLost as exc:
                log.error("job from %s not checked: %s", user, exc)
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
            try:
                record = await asyncio.to_thread(
                    self.store.create, user, checked.spec.task, data, priority=request.priority,
                    label=request.label, model=checked.model, request_id=request.request_id,
                    task_name=checked.spec.plugin_name, warnings=checked.warnings,
                )
            except DuplicateRequest as exc:  # the same id, submitted twice at once
                return await self._repeat(exc.job, data, request.request_id, context)
            except StoreFailure as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"the job store is unavailable: {exc}")
            log.info("job %s: queued by %s (%s, model %s)", record.id, user, checked.spec.name, checked.model)
            self.backend.notify_queued(record, checked)
        return service_pb2.SubmitJobResponse(job=record.to_proto(self.backend.queue_position(record.id)))

    @contextlib.asynccontextmanager
    async def _turn(self, user: str):
        """Held while one of `user`'s submissions is checked and queued."""
        lock, holders = self._turns.get(user, (asyncio.Lock(), 0))
        self._turns[user] = (lock, holders + 1)
        try:
            async with lock:
                yield
        finally:
            lock, holders = self._turns.pop(user)
            if holders > 1:
                self._turns[user] = (lock, holders - 1)

    async def _repeat(self, earlier: JobRecord, data: bytes, request_id: str, context):
        """A retried submission: the job its request id made, if it is the same request."""
        same = await self._store(context, lambda: _same_request(self.store.request(earlier.id), data), off_loop=True)
        if not same:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"request_id: {quoted(request_id)} was used for job {earlier.id} with a different request; use a new id")
        log.info("job %s: submitted again with its request id; the same job answers", earlier.id)
        position = self.backend.queue_position(earlier.id) if earlier.state == QUEUED else 0
        return service_pb2.SubmitJobResponse(job=earlier.to_proto(position))

    async def WatchJob(self, request, context):
        record = await self._own_job(request.job_id, context)
        queue = self.hub.subscribe(record.id)
        try:
            current = await self._store(context, self.store.get, record.id)
            event = snapshot_event(current, self.backend.queue_position(record.id))
            yield service_pb2.WatchJobResponse(event=event)
            while event.job.state not in TERMINAL:
                event = await queue.get()
                yield service_pb2.WatchJobResponse(event=event)
        except asyncio.CancelledError:
            # The watcher went away (or the server is stopping). The job runs on; do not let the
            # cancellation escape the handler, which can leave the call hanging.
            return
        finally:
            self.hub.unsubscribe(record.id, queue)

    async def CancelJob(self, request, context):
        record = await self._own_job(request.job_id, context)
        if record.state not in TERMINAL:
            self.backend.cancel(record.id)
            record = await self._store(context, self.store.get, record.id)
        return service_pb2.CancelJobResponse(job=record.to_proto())

    async def GetJob(self, request, context):
        record = await self._own_job(request.job_id, context)
        if not (request.include_result and record.state == SUCCEEDED):
            position = self.backend.queue_position(record.id) if record.state == QUEUED else 0
            yield service_pb2.GetJobResponse(job=record.to_proto(position))
            return
        # The result streams from disk a keyframe at a time, each checked against its CRC: a
        # reader that does not read holds one keyframe, and a lost file is said, not served.
        try:
            reader = await asyncio.to_thread(self.store.open_result, record.id)
        except ResultLost as exc:
            await self._lost(exc, context)
        try:
            yield service_pb2.GetJobResponse(job=record.to_proto())
            while True:
                try:
                    item = await asyncio.to_thread(reader.next)
                except ResultLost as exc:
                    await self._lost(exc, context)
                if item is None:
                    return
                # A GetJobResponse holding a keyframe is just the tag of its `keyframe` field
                # (2, length-delimited) and the delimited record as it lies in the file.
                yield _KEYFRAME_TAG + item[0]
        finally:
            reader.close()

    async def _lost(self, exc: ResultLost, context) -> None:
        log.error("job %s: result lost: %s", exc.job_id, exc.problem)
        await self._store(context, self.store.mark_lost, exc.job_id, exc.problem)
        await context.abort(grpc.StatusCode.DATA_LOSS, str(exc))

    async def ListJobs(self, request, context):
        user = await self._user(context)
        size = request.page_size or 50
        if size > MAX_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size: {size} is over the limit of {MAX_PAGE}")
        before = None
        if request.page_token:
            if not _PAGE_TOKEN.fullmatch(request.page_token):
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    f"page_token: {quoted(request.page_token)} is not a token from a previous response")
            before = int(request.page_token)
        if len(request.states) > len(jobs_pb2.JobState.values()):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"states: {len(request.states)} entries is over "
                                                                   f"the limit of {len(jobs_pb2.JobState.values())}")
        owner = user if self.auth.required else None
        records = await self._store(context, self.store.list, owner, sorted(set(request.states)), size + 1, before)
        page, more = records[:size], len(records) > size
        return service_pb2.ListJobsResponse(
            jobs=[r.to_proto() for r in page],
            next_page_token=str(page[-1].seq) if more else "",
        )


def _same_request(stored: bytes, data: bytes) -> bool:
    """Whether two serialized submissions say the same (byte for byte, or field by field)."""
    if stored == data:
        return True
    parse = service_pb2.SubmitJobRequest.FromString
    return parse(stored) == parse(data)


def capped(message: str, limit: int = MAX_DETAILS) -> str:
    """An error's details, cut to a size any client and proxy passes on."""
    return message if len(message) <= limit else message[: limit - 20] + f"... ({len(message)} chars)"


# -- registration -----------------------------------------------------------------------------
# The generated `add_AnimationServiceServicer_to_server` lets a request that does not parse fail
# as INTERNAL ("Exception deserializing request!"). A corrupt request is the caller's fault, so
# these handlers parse it themselves and answer INVALID_ARGUMENT.

class _Malformed:
    def __init__(self, type_name: str, error: Exception):
        self.message = f"request: not a valid {type_name} ({type(error).__name__}: {error or 'truncated or corrupt'})"


def _parser(message_class):
    def parse(data: bytes):
        try:
            return message_class.FromString(data)
        except Exception as exc:  # DecodeError and friends
            return _Malformed(message_class.DESCRIPTOR.full_name, exc)

    return parse


def _as_is(data: bytes) -> bytes:
    return data


def _guard_unary(method):
    async def handler(request, context):
        if isinstance(request, _Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return await method(request, context)

    return handler


def _guard_stream(method):
    async def handler(request, context):
        if isinstance(request, _Malformed):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        async for response in method(request, context):
            yield response

    return handler


def add_to_server(servicer: AnimationService, server) -> str:
    """Register the servicer on a grpc.aio server; returns the service's full name."""
    from google.protobuf import message_factory

    descriptor = service_pb2.DESCRIPTOR.services_by_name["AnimationService"]
    handlers = {}
    for method in descriptor.methods:
        impl = getattr(servicer, method.name)
        # SubmitJob's request stays bytes: the servicer reads its top level, a check process the rest.
        parse = _as_is if method.name == "SubmitJob" else _parser(message_factory.GetMessageClass(method.input_type))
        if method.server_streaming:
            handler = grpc.unary_stream_rpc_method_handler(
                _guard_stream(impl), request_deserializer=parse, response_serializer=_serialize)
        else:
            handler = grpc.unary_unary_rpc_method_handler(
                _guard_unary(impl), request_deserializer=parse, response_serializer=_serialize)
        handlers[method.name] = handler
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(descriptor.full_name, handlers),))
    return descriptor.full_name


def _serialize(message) -> bytes:
    return message if isinstance(message, bytes) else message.SerializeToString()
