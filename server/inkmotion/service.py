"""The gRPC servicer of inkmotion.v1.AnimationService.

It checks requests (limits and structure, answered INVALID_ARGUMENT), stores jobs, and relays the
event hub to watchers. It never touches tensors: the backend runs the work, the codec encodes it.
"""

from __future__ import annotations

import asyncio
import logging

import grpc

from inkmotion import __version__, tasks
from inkmotion.auth import Authenticator
from inkmotion.backends.base import Backend
from inkmotion.errors import InvalidInput
from inkmotion.events import EventHub, snapshot_event
from inkmotion.jobs import SUCCEEDED, TERMINAL, JobRecord, JobStore
from inkmotion.limits import Limits
from inkmotion.v1 import animation_service_pb2 as service_pb2
from inkmotion.v1 import animation_service_pb2_grpc as service_grpc
from inkmotion.v1 import jobs_pb2

log = logging.getLogger("inkmotion.service")

MAX_PAGE = 500
_KEYFRAME_TAG = bytes([service_pb2.GetJobResponse.KEYFRAME_FIELD_NUMBER << 3 | 2])


class AnimationService(service_grpc.AnimationServiceServicer):
    def __init__(self, store: JobStore, hub: EventHub, backend: Backend, limits: Limits, auth: Authenticator):
        self.store = store
        self.hub = hub
        self.backend = backend
        self.limits = limits
        self.auth = auth
        self.accepting = True

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
        record = self.store.get(job_id)
        if record is None or (self.auth.required and record.owner != user):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"job_id: no job {job_id!r}")
        return record

    # -- RPCs ---------------------------------------------------------------------------------

    async def GetCapabilities(self, request, context):
        await self._user(context)
        response = service_pb2.GetCapabilitiesResponse(
            server_version=__version__,
            devices=self.backend.devices(),
            limits=self.limits.to_proto(),
            auth_required=self.auth.required,
        )
        for spec in tasks.TASKS.values():
            response.tasks.add(
                task=spec.task,
                name=spec.name,
                description=spec.description,
                available=spec.available,
                unavailable_reason=spec.unavailable_reason if not spec.available else "",
                models=list(spec.models),
                default_model=spec.default_model,
            )
            for model in spec.models:
                description, source, available = tasks.model_info(spec, model)
                response.models.add(name=model, task=spec.task, description=description, source=source, available=available)
        return response

    async def SubmitJob(self, request, context):
        user = await self._user(context)
        if not self.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the server is shutting down; submit again once it is back")
        try:
            checked = tasks.check_submission(request, self.limits)
        except InvalidInput as exc:
            log.info("refused a job from %s: %s", user, exc)
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        except tasks.TaskUnavailable as exc:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, str(exc))
        record = self.store.create(
            user, checked.spec.task, request.SerializeToString(),
            priority=request.priority, label=request.label, model=checked.model,
        )
        log.info("job %s: queued by %s (%s, model %s)", record.id, user, checked.spec.name, checked.model)
        self.backend.notify_queued(record.id)
        return service_pb2.SubmitJobResponse(job=record.to_proto(self.store.queue_position(record)))

    async def WatchJob(self, request, context):
        record = await self._own_job(request.job_id, context)
        queue = self.hub.subscribe(record.id)
        try:
            event = snapshot_event(self.store, self.store.get(record.id))
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
            record = self.store.get(record.id)
        return service_pb2.CancelJobResponse(job=record.to_proto())

    async def GetJob(self, request, context):
        record = await self._own_job(request.job_id, context)
        position = self.store.queue_position(record) if record.state == jobs_pb2.JOB_STATE_QUEUED else 0
        yield service_pb2.GetJobResponse(job=record.to_proto(position))
        if request.include_result and record.state == SUCCEEDED:
            # Stored keyframes go out as they are: a GetJobResponse holding one is just the tag of
            # its `keyframe` field (2, length-delimited) and the delimited record.
            for record_bytes in self.store.delimited_keyframes(record.id):
                yield _KEYFRAME_TAG + record_bytes

    async def ListJobs(self, request, context):
        user = await self._user(context)
        size = request.page_size or 50
        if size > MAX_PAGE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size: {size} is over the limit of {MAX_PAGE}")
        before = None
        if request.page_token:
            if not request.page_token.isdigit():
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "page_token: not a token from a previous response")
            before = int(request.page_token)
        owner = user if self.auth.required else None
        records = self.store.list(owner, request.states, size + 1, before)
        page, more = records[:size], len(records) > size
        return service_pb2.ListJobsResponse(
            jobs=[r.to_proto() for r in page],
            next_page_token=str(page[-1].seq) if more else "",
        )


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
        parse = _parser(message_factory.GetMessageClass(method.input_type))
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
