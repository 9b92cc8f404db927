"""The token file of a shared server: what it accepts, and one clear line for everything it refuses."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from inkmotion.auth import Account, Authenticator, Grant, load_tokens
from inkmotion.errors import InvalidInput

ANN = "ann-token-0123456789abcdef"
BOB = "bob-token-0123456789abcdef"


def token_file(tmp_path, content: str | bytes, mode: int = 0o600):
    path = tmp_path / "tokens.txt"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    path.chmod(mode)
    return path


def refusal(tmp_path, content: str | bytes) -> str:
    path = token_file(tmp_path, content)
    with pytest.raises(InvalidInput) as info:
        load_tokens(path)
    message = str(info.value)
    assert "\n" not in message
    assert ANN not in message and BOB not in message, "a message never quotes a token"
    return message.replace(str(path), "tokens.txt")


def test_users_tokens_options_and_comments(tmp_path):
    path = token_file(tmp_path, (
        "# studio users\n"
        "\n"
        f"ann {ANN}\n"
        f"   # an indented comment\n"
        f"farm\t{BOB}  max-priority=10 max-queued=5000\n"
    ))
    assert load_tokens(path) == {
        ANN: Account("ann"),
        BOB: Account("farm", Grant(max_priority=10, max_queued=5000)),
    }


def test_the_authenticator_knows_users_and_their_grants(tmp_path):
    auth = Authenticator(load_tokens(token_file(tmp_path, f"ann {ANN}\nfarm {BOB} max-queued=3\n")))
    assert auth.required and len(auth.tokens) == 2
    assert auth.user([("authorization", f"Bearer {BOB}")]) == "farm"
    assert auth.user([("authorization", "Bearer wrong-token-0123456789")]) is None
    assert auth.grant("farm") == Grant(max_queued=3)
    assert auth.grant("ann") == Grant() and auth.grant("nobody") == Grant()


def test_the_authenticator_still_takes_a_plain_dict():
    auth = Authenticator({ANN: "ann"})
    assert auth.user([("authorization", f"Bearer {ANN}")]) == "ann"
    assert auth.grant("ann") == Grant()
    open_auth = Authenticator()
    assert not open_auth.required and open_auth.user(()) == "local" and open_auth.grant("local") == Grant()


@pytest.mark.parametrize(
    "content, message",
    [
        (f"ann {ANN}\nbob abc#def0123456789abc\n", "tokens.txt:2: the token of 'bob' contains '#': tokens cannot"),
        (f"ann {ANN} # the animator\n", "tokens.txt:1: a comment must be a line of its own, starting with '#'"),
        (f"ann {ANN[:10]}\t{ANN[10:]}\n", "tokens.txt:1: field 3 after the token of 'ann' is not an option"),
        (f"ann {ANN}\nann {BOB}\n", "tokens.txt:2: user 'ann' is already on line 1"),
        (f"ann {ANN}\nbob {ANN}\n", "tokens.txt:2: the token of 'bob' is also 'ann''s (line 1)"),
        ("ann short-token\n", "tokens.txt:1: the token of 'ann' is 11 characters; use at least 16"),
        ("ann\n", "tokens.txt:1: expected 'NAME TOKEN [max-priority=N] [max-queued=N]'"),
        (f"ann {ANN} max-prio=3\n", "tokens.txt:1: unknown option 'max-prio'; the options are max-priority, max-queued"),
        (f"ann {ANN} max-priority=11\n", "tokens.txt:1: max-priority: 11 is over the limit of 10"),
        (f"ann {ANN} max-queued=0\n", "tokens.txt:1: max-queued: 0 is under the minimum of 1"),
        (f"ann {ANN} max-queued=lots\n", "tokens.txt:1: max-queued='lots' is not a whole number"),
        (f"ann {ANN} max-queued=2 max-queued=3\n", "tokens.txt:1: max-queued is given twice"),
        (f"ann {ANN[:-1]}\u00e9\n", "tokens.txt:1: the token of 'ann' has characters other than printable ASCII"),
        ("# nobody yet\n\n", "--token-file: tokens.txt names no users"),
    ],
)
def test_refusals_are_one_line_naming_the_line(tmp_path, content, message):
    got = refusal(tmp_path, content)
    assert got.startswith(message), got


def test_bytes_that_are_not_utf8_are_located(tmp_path):
    got = refusal(tmp_path, f"ann {ANN}\nbob ".encode() + b"\xff" + BOB.encode() + b"\n")
    assert got == "tokens.txt:2: byte 5 of the line is not UTF-8 (byte offset 35 in the file); save the file as UTF-8"


def test_a_file_others_can_read_loads_with_a_warning(tmp_path, caplog):
    path = token_file(tmp_path, f"ann {ANN}\n", mode=0o644)
    with caplog.at_level(logging.WARNING, logger="inkmotion.auth"):
        assert load_tokens(path) == {ANN: Account("ann")}
    assert [r.getMessage() for r in caplog.records] == [
        f"token file {path} is readable by other users (mode 644); chmod 600 {path}"]
    caplog.clear()
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="inkmotion.auth"):
        load_tokens(path)
    assert not caplog.records


def test_serve_with_a_bad_token_file_says_one_line_and_exits(tmp_path):
    path = token_file(tmp_path, f"ann {ANN}\nbob {ANN}\n")
    run = subprocess.run(
        [sys.executable, "-m", "inkmotion.cli", "serve", "--port", "0", "--data-dir", str(tmp_path / "data"),
         "--device", "cpu", "--token-file", str(path)],
        capture_output=True, text=True, timeout=60, env=os.environ,
    )
    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"inkmotion: error: {path}:2: the token of 'bob' is also 'ann''s (line 1)"]
