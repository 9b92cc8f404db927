"""Who is calling: bearer tokens for a shared studio server.

The token file holds one user per line, `NAME TOKEN` (blank lines and `#` comments ignored). Clients
send `authorization: Bearer TOKEN` as call metadata. Health checks and reflection stay open.
"""

from __future__ import annotations

import hmac
from pathlib import Path

import grpc

from inkmotion.errors import InvalidInput

LOCAL_USER = "local"
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def load_tokens(path: Path | str) -> dict[str, str]:
    """Token file -> {token: user}. Refuses duplicates and short tokens."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise InvalidInput("--token-file", f"cannot read {path}: {exc.strerror}") from None
    tokens: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2:
            raise InvalidInput(f"{path}:{number}", "expected 'NAME TOKEN'")
        user, token = parts
        if len(token) < 16:
            raise InvalidInput(f"{path}:{number}", f"the token of {user!r} is {len(token)} characters; use at least 16")
        if token in tokens:
            raise InvalidInput(f"{path}:{number}", f"the token of {user!r} is also {tokens[token]!r}'s")
        tokens[token] = user
    if not tokens:
        raise InvalidInput("--token-file", f"{path} names no users")
    return tokens


class Authenticator:
    """Maps call metadata to a user; with no tokens configured, everyone is the local user."""

    def __init__(self, tokens: dict[str, str] | None = None):
        self.tokens = tokens or {}

    @property
    def required(self) -> bool:
        return bool(self.tokens)

    def user(self, metadata) -> str | None:
        if not self.tokens:
            return LOCAL_USER
        for key, value in metadata or ():
            if key == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                offered = value[len("Bearer "):].strip().encode()
                for token, user in self.tokens.items():  # constant time per comparison
                    if hmac.compare_digest(offered, token.encode()):
                        return user
        return None


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Refuses calls without a valid token before they reach a servicer."""

    def __init__(self, auth: Authenticator):
        self.auth = auth

        async def deny(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required (authorization: Bearer TOKEN)")

        self._deny_unary = grpc.unary_unary_rpc_method_handler(deny)

        async def deny_stream(request, context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "a valid bearer token is required (authorization: Bearer TOKEN)")
            yield  # pragma: no cover  (makes this an async generator)

        self._deny_stream = grpc.unary_stream_rpc_method_handler(deny_stream)

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if not self.auth.required or method.startswith(OPEN_SERVICES):
            return await continuation(handler_call_details)
        if self.auth.user(handler_call_details.invocation_metadata) is not None:
            return await continuation(handler_call_details)
        handler = await continuation(handler_call_details)
        if handler is not None and handler.response_streaming:
            return self._deny_stream
        return self._deny_unary
