"""Request bodies through a real gunicorn: a chunked body (no Content-Length) is read within its limit
and refused past it, and a Content-Length over the limit is answered before the body is sent."""

import contextlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from rest_framework.authtoken.models import Token

from battles.models import Battle, Question, Vote
from battles.services.serving import battle_serve
from tests.factories import BattleFactory, VoterFactory

ROOT = Path(__file__).resolve().parents[2]
REQUEST_MAX_BYTES = 1024
UPLOAD_MAX_BYTES = 4096


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def gunicorn(transactional_db, tmp_path) -> Iterator[int]:
    """gunicorn serving the project on the test database, with small body limits (on another free
    port if another process took the first one meanwhile)."""
    database = settings.DATABASES["default"]
    environment = os.environ | {
        "DJANGO_SETTINGS_MODULE": "arena.settings",
        "DATABASE_URL": (
            f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
        ),
        "ARENA_REQUEST_MAX_BYTES": str(REQUEST_MAX_BYTES),
        "ARENA_BANK_UPLOAD_MAX_BYTES": str(UPLOAD_MAX_BYTES),
        "ARENA_VOTE_MIN_SECONDS": "0",
    }
    log = tmp_path / "gunicorn.log"
    for _attempt in range(3):
        port = free_port()
        with log.open("w") as output:
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "arena.wsgi",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "--workers",
                    "1",
                ],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        if _accepts_connections(server, port):
            break
        server.wait(timeout=30)
    else:
        pytest.fail(f"gunicorn did not start: {log.read_text()}")
    try:
        yield port
    finally:
        server.terminate()
        server.wait(timeout=30)


def _accepts_connections(server: subprocess.Popen, port: int) -> bool:
    """True once the server accepts connections on the port; False if it exited (a port taken)."""
    deadline = time.monotonic() + 60
    while server.poll() is None:
        if time.monotonic() > deadline:
            pytest.fail("gunicorn did not start within 60 s")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.2)
    return False


def exchange(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send one request as raw bytes and read the whole response (gunicorn's sync worker closes). Bodies
    stay under 8 KB, which gunicorn reads in one go, so a refusal never leaves unread bytes behind."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    status_line, _, rest = received.partition(b"\r\n")
    header_block, _, content = rest.partition(b"\r\n\r\n")
    headers = {}
    for line in header_block.decode().split("\r\n"):
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        content = dechunk(content)
    return int(status_line.split()[1]), headers, content


def chunked(body: bytes, size: int = 500) -> bytes:
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(f"{len(piece):x}\r\n".encode() + piece + b"\r\n" for piece in pieces) + b"0\r\n\r\n"


def dechunk(data: bytes) -> bytes:
    out = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out, data = out + data[:size], data[size + 2 :]


def post_head(path: str, content_type: str, *, length: int | None = None, **headers: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}"]
    lines.append("Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return "\r\n".join(lines) + "\r\n"


def served_battle() -> tuple[Battle, str]:
    from battles.api import _voter_token

    voter = VoterFactory()
    BattleFactory()
    battle = battle_serve(voter=voter)
    assert battle is not None
    return battle, _voter_token(voter)


def test_a_chunked_vote_within_the_limit_is_counted(gunicorn):
    battle, token = served_battle()
    body = json.dumps({"outcome": "b", "reason": "sent in chunks"}).encode()
    status, _, content = exchange(
        gunicorn,
        post_head(f"/api/v1/battles/{battle.pk}/vote/", "application/json", X_Arena_Voter=token),
        chunked(body, size=7),
    )
    assert status == 201, content
    assert (json.loads(content)["outcome"], json.loads(content)["reason"]) == ("b", "sent in chunks")
    assert list(Vote.objects.values_list("battle_id", "outcome", "reason")) == [
        (battle.pk, "b", "sent in chunks")
    ]


def test_a_chunked_vote_over_the_limit_is_a_413_and_counts_nothing(gunicorn):
    battle, token = served_battle()
    body = json.dumps({"outcome": "b", "reason": "x" * 3000}).encode()
    status, headers, content = exchange(
        gunicorn,
        post_head(f"/api/v1/battles/{battle.pk}/vote/", "application/json", X_Arena_Voter=token),
        chunked(body),
    )
    assert (status, headers["content-type"]) == (413, "application/json")
    assert json.loads(content) == {
        "error": {
            "status": 413,
            "code": "content_too_large",
            "message": (
                "the request body is larger than the 1024 bytes accepted here (ARENA_REQUEST_MAX_BYTES)"
            ),
            "fields": {},
        }
    }
    assert not Vote.objects.exists()
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.SERVED


def test_a_chunked_form_over_the_limit_gets_the_sites_page(gunicorn):
    status, headers, content = exchange(
        gunicorn,
        post_head("/battles/1/vote/", "application/x-www-form-urlencoded"),
        chunked(b"outcome=a&reason=" + b"x" * 3000),
    )
    assert (status, headers["content-type"]) == (413, "text/html; charset=utf-8")
    assert "你提交的内容超过了本站允许的大小（最多 1.0\xa0KB）。" in content.decode()


def test_a_content_length_over_the_limit_is_answered_before_the_body_is_sent(gunicorn):
    # Only the head is sent: had the server waited for the 50 MB, no answer would come.
    user = get_user_model().objects.create_user("operator", password="a-long-password", is_staff=True)
    token = Token.objects.create(user=user).key
    status, _, content = exchange(
        gunicorn,
        post_head(
            "/api/v1/staff/questions/import/",
            MULTIPART_CONTENT,
            length=50 * 1024 * 1024,
            Authorization=f"Token {token}",
        ),
    )
    assert status == 413
    assert json.loads(content)["error"]["message"] == (
        "the request body is larger than the 4096 bytes accepted here (ARENA_BANK_UPLOAD_MAX_BYTES)"
    )


def test_a_chunked_upload_within_its_limit_is_imported_and_past_it_refused(gunicorn):
    user = get_user_model().objects.create_user("operator", password="a-long-password", is_staff=True)
    token = Token.objects.create(user=user).key

    def upload(count: int) -> tuple[int, bytes, int]:
        bank = "\n".join(
            json.dumps({"text": f"Question {number}?", "category": "QA"}) for number in range(count)
        )
        file = io.BytesIO(bank.encode())
        file.name = "bank.jsonl"
        body = encode_multipart(BOUNDARY, {"file": file})
        status, _, content = exchange(
            gunicorn,
            post_head("/api/v1/staff/questions/import/", MULTIPART_CONTENT, Authorization=f"Token {token}"),
            chunked(body),
        )
        return status, content, len(body)

    # Small enough for gunicorn to take in at once: a server closing on unread data would reset the
    # connection, and the answer could be lost.
    status, content, size = upload(120)
    assert UPLOAD_MAX_BYTES < size < 8192
    assert status == 413 and json.loads(content)["error"]["code"] == "content_too_large"
    assert not Question.objects.exists()
    status, content, size = upload(30)
    assert REQUEST_MAX_BYTES < size < UPLOAD_MAX_BYTES  # over the API's own limit, within the upload's
    assert status == 200, content
    assert json.loads(content)["questions_created"] == 30 and Question.objects.count() == 30
