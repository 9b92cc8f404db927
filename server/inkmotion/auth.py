"""Who is calling: bearer tokens for a shared studio server.

The token file holds one user per line, `NAME TOKEN [max-priority=N] [max-queued=N]`; blank lines
and lines whose first non-blank character is `#` are ignored. A token is 16 or more printable ASCII
characters other than `#` (it travels as a gRPC header). The options cap what the user may ask for;
left out, the server's defaults apply. Clients send `authorization: Bearer TOKEN` as call metadata.
Health checks and reflection stay open.

    # studio users
    ann   3f9c2a7e51b04d6e8a1c
    farm  0123456789abcdef0123  max-priority=10 max-queued=5000

A bad file is refused with one line naming file:line; no message ever quotes a token.
"""

from __future__ import annotations

import hmac
import logging
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import grpc

from inkmotion.errors import InvalidInput
from inkmotion.limits import check_range

log = logging.getLogger("inkmotion.auth")

LOCAL_USER = "local"
OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
MIN_TOKEN_CHARS = 16
FORMAT = "NAME TOKEN [max-priority=N] [max-queued=N]"


@dataclass(frozen=True)
class Grant:
    """What one user may ask for; None: the server's default."""

    max_priority: int | None = None  # the highest job priority they may submit (-10..10)
    max_queued: int | None = None  # how many of their jobs may wait at once


@dataclass(frozen=True)
class Account:
    """One line of the token file: who the token belongs to and what they may ask for."""

    user: str
    grant: Grant = Grant()


# option -> (Grant field, lowest, highest). Priorities run -10..10, as SubmitJob checks them.
OPTIONS = {
    "max-priority": ("max_priority", -10, 10),
    "max-queued": ("max_queued", 1, 1_000_000),
}
_OPTION = re.compile(r"([a-z][a-z0-9-]*)=(.*)")
_INTEGER = re.compile(r"-?[0-9]+")


def _decode(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8").removeprefix("\ufeff")  # a byte-order mark is not part of the first name
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidInput(f"{path}:{line}", f"byte {column} of the line is not UTF-8 (byte offset {exc.start} in the file); "
                           "save the file as UTF-8") from None


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("token file %s is readable by other users (mode %03o); chmod 600 %s", path, stat.S_IMODE(mode), path)


def _grant(where: str, user: str, fields: list[str]) -> Grant:
    """The options after a token. Fields are quoted only as option names: anything else might be a
    piece of a token that had whitespace in it."""
    values: dict[str, int] = {}
    for number, text in enumerate(fields, 3):
        if text.startswith("#"):
            raise InvalidInput(where, "a comment must be a line of its own, starting with '#'")
        match = _OPTION.fullmatch(text)
        if match is None:
            raise InvalidInput(where, f"field {number} after the token of {user!r} is not an option "
                                      f"(expected {FORMAT}); a token cannot contain whitespace")
        name, value = match.groups()
        if name not in OPTIONS:
            raise InvalidInput(where, f"unknown option {name!r}; the options are {', '.join(OPTIONS)}")
        attribute, low, high = OPTIONS[name]
        if attribute in values:
            raise InvalidInput(where, f"{name} is given twice")
        if not _INTEGER.fullmatch(value):
            raise InvalidInput(where, f"{name}={value!r} is not a whole number")
        check_range(f"{where}: {name}", int(value), low, high)
        values[attribute] = int(value)
    return Grant(**values)


def load_tokens(path: Path | str) -> dict[str, Account]:
    """Token file -> {token: Account}. Refuses, in one line naming file:line, anything that is not
    clearly one user per line: bytes that are not UTF-8, tokens that are short or hold `#` or
    whitespace, a name or a token given twice, unknown options and values out of range. Warns
    (and loads) when other users can read the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput("--token-file", f"cannot read {path}: {exc.strerror}") from None
    _warn_if_readable(path)
    tokens: dict[str, Account] = {}
    lines: dict[str, int] = {}  # user -> line
    token_lines: dict[str, int] = {}
    for number, line in enumerate(_decode(path, data).splitlines(), 1):
        where = f"{path}:{number}"
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if len(fields) < 2:
            raise InvalidInput(where, f"expected '{FORMAT}'")
        user, token, options = fields[0], fields[1], fields[2:]
        if "#" in token:
            raise InvalidInput(where, f"the token of {user!r} contains '#': tokens cannot (comments are whole lines "
                                      "starting with '#')")
        if not all(33 <= ord(c) <= 126 for c in token):
            raise InvalidInput(where, f"the token of {user!r} has characters other than printable ASCII "
                                      "(it travels as a gRPC header)")
        grant = _grant(where, user, options)  # first: a token cut in two by whitespace is said as such
        if len(token) < MIN_TOKEN_CHARS:
            raise InvalidInput(where, f"the token of {user!r} is {len(token)} characters; use at least {MIN_TOKEN_CHARS}")
        if user in lines:
            raise InvalidInput(where, f"user {user!r} is already on line {lines[user]}")
        if token in tokens:
            raise InvalidInput(where, f"the token of {user!r} is also {tokens[token].user!r}'s (line {token_lines[token]})")
        tokens[token] = Account(user, grant)
        lines[user], token_lines[token] = number, number
    if not tokens:
        raise InvalidInput("--token-file", f"{path} names no users")
    return tokens


class Authenticator:
    """Maps call metadata to a user; with no tokens configured, everyone is the local user.

    `tokens` is what `load_tokens` returns ({token: Account}) or plainly {token: user}."""

    def __init__(self, tokens: Mapping[str, Account | str] | None = None):
        accounts = {token: a if isinstance(a, Account) else Account(a) for token, a in (tokens or {}).items()}
        self.tokens: dict[str, str] = {token: a.user for token, a in accounts.items()}  # token -> user
        self.grants: dict[str, Grant] = {a.user: a.grant for a in accounts.values()}

    @property
    def required(self) -> bool:
        return bool(self.tokens)

    def grant(self, user: str) -> Grant:
        """What `user` may ask for (the server's defaults for users without options, and locally)."""
        return self.grants.get(user, Grant())

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
