"""Bad input to the API and the site: too large, too deep, the wrong type, a cursor the API did not give
out, a vote sent twice. Each is refused with one clear answer, and nothing is written."""

import io
import json
import tracemalloc
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from django.core import signing
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from rest_framework.settings import api_settings

from arena.parsers import JSONParser
from battles.models import Battle, Category, Contender, Question, Vote
from ratings.models import RatingSnapshot
from ratings.services import ratings_refresh
from tests.factories import BattleFactory, ContenderFactory, VoteFactory, VoterFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
MEGABYTE = 1024 * 1024


def error(status: int, code: str, message: str, fields: dict | None = None) -> dict:
    return {"error": {"status": status, "code": code, "message": message, "fields": fields or {}}}


def database_state() -> dict:
    """Everything a rejected request could have changed."""
    return {
        "votes": list(Vote.objects.order_by("pk").values()),
        "battles": list(Battle.objects.order_by("pk").values()),
        "questions": list(Question.objects.order_by("pk").values()),
        "categories": list(Category.objects.order_by("pk").values()),
        "contenders": list(Contender.objects.order_by("pk").values()),
    }


class RecordingStream:
    """A request body that counts how much of it the server reads."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.bytes_read += len(chunk)
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = self._data.readline(size)
        self.bytes_read += len(line)
        return line


def send(
    client, path: str, body: bytes, *, content_type: str, length: int | None = None, chunked=False, **extra
):
    """POST a body from a RecordingStream: with a Content-Length (the body's own unless `length` claims
    another), or without one, de-chunked as gunicorn passes a chunked body on (wsgi.input_terminated)."""
    stream = RecordingStream(body)
    environ = {"wsgi.input": stream, "CONTENT_TYPE": content_type, **extra}
    if chunked:
        environ |= {"HTTP_TRANSFER_ENCODING": "chunked", "wsgi.input_terminated": True}
    else:
        environ["CONTENT_LENGTH"] = str(len(body) if length is None else length)
    return client.generic("POST", path, b"", content_type=content_type, **environ), stream


def served(api):
    """A battle served to a new API voter, and the voter's token."""
    battle = BattleFactory()
    token = api.post("/api/v1/battles/next/").json()["voter_token"]
    return Battle.objects.get(pk=battle.pk), token


def vote_body(**fields) -> bytes:
    return json.dumps({"outcome": "a", **fields}).encode()


# --- Body size ----------------------------------------------------------------------------------------

TOO_LARGE = error(
    413,
    "content_too_large",
    "the request body is larger than the 1048576 bytes accepted here (ARENA_REQUEST_MAX_BYTES)",
)


def test_a_json_body_over_the_limit_is_refused_on_its_length_without_reading_it(api):
    battle, token = served(api)
    before = database_state()
    body = vote_body(reason="x" * (10 * MEGABYTE))
    response, stream = send(
        api,
        f"/api/v1/battles/{battle.pk}/vote/",
        body,
        content_type="application/json",
        HTTP_X_ARENA_VOTER=token,
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json() == TOO_LARGE
    assert stream.bytes_read == 0
    assert database_state() == before


def test_a_chunked_json_body_is_refused_as_soon_as_it_passes_the_limit(api):
    battle, token = served(api)
    before = database_state()
    body = vote_body(reason="x" * (10 * MEGABYTE))
    response, stream = send(
        api,
        f"/api/v1/battles/{battle.pk}/vote/",
        body,
        content_type="application/json",
        chunked=True,
        HTTP_X_ARENA_VOTER=token,
    )
    assert response.status_code == 413
    assert response.json() == TOO_LARGE
    assert stream.bytes_read == 1048576 + 1  # one byte past the limit, not the 10 MB
    assert database_state() == before


def test_a_chunked_json_body_within_the_limit_is_read_and_counted(api):
    battle, token = served(api)
    response, _stream = send(
        api,
        f"/api/v1/battles/{battle.pk}/vote/",
        vote_body(reason="sent in chunks"),
        content_type="application/json",
        chunked=True,
        HTTP_X_ARENA_VOTER=token,
    )
    assert response.status_code == 201, response.content
    assert (response.json()["outcome"], response.json()["reason"]) == ("a", "sent in chunks")
    assert Vote.objects.get().reason == "sent in chunks"


def test_the_limit_is_a_setting(api, settings):
    settings.ARENA_REQUEST_MAX_BYTES = 2048
    battle, token = served(api)
    path = f"/api/v1/battles/{battle.pk}/vote/"
    response, _ = send(
        api, path, vote_body(reason="x" * 2100), content_type="application/json", HTTP_X_ARENA_VOTER=token
    )
    assert response.status_code == 413
    assert response.json() == error(
        413,
        "content_too_large",
        "the request body is larger than the 2048 bytes accepted here (ARENA_REQUEST_MAX_BYTES)",
    )
    exactly = vote_body(reason="x" * 400)
    response, _ = send(api, path, exactly, content_type="application/json", HTTP_X_ARENA_VOTER=token)
    assert response.status_code == 201
    assert not Vote.objects.exclude(reason="x" * 400).exists()


def site_battle(client: Client) -> Battle:
    BattleFactory()
    assert client.get("/").status_code == 200
    return Battle.objects.get(status=Battle.Status.SERVED)


@pytest.mark.parametrize("chunked", [False, True])
def test_a_form_over_the_limit_gets_the_sites_own_page(chunked):
    client = Client()
    battle = site_battle(client)
    before = database_state()
    body = b"outcome=a&reason=" + b"x" * (10 * MEGABYTE)
    response, stream = send(
        client,
        f"/battles/{battle.pk}/vote/",
        body,
        content_type="application/x-www-form-urlencoded",
        chunked=chunked,
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "text/html; charset=utf-8"
    html = response.content.decode()
    assert '<html lang="zh-Hans">' in html and "<title>提交的内容太大 · 模型竞技场</title>" in html
    assert "你提交的内容超过了本站允许的大小（最多 1.0\xa0MB）。什么都没有保存；请返回并少提交一些。" in html
    assert 'class="site-header"' in html  # the site's own layout, not Django's bare page
    assert stream.bytes_read == (1048576 + 1 if chunked else 0)
    assert database_state() == before


def test_the_413_page_speaks_english_when_chosen():
    client = Client()
    client.cookies["arena_language"] = "en"
    battle = site_battle(client)
    response, _ = send(
        client,
        f"/battles/{battle.pk}/vote/",
        b"outcome=a",
        content_type="application/x-www-form-urlencoded",
        length=5 * MEGABYTE,
    )
    assert response.status_code == 413
    html = response.content.decode()
    assert '<h1 id="too-large-heading">Too much to send</h1>' in html
    assert "What you sent is larger than this site accepts (at most 1.0\xa0MB)." in html


# --- JSON depth ---------------------------------------------------------------------------------------


def test_the_api_parses_json_with_the_depth_limited_parser():
    assert [JSONParser] == api_settings.DEFAULT_PARSER_CLASSES


def test_json_nested_100000_levels_is_a_400_not_a_recursion_error(api):
    battle, token = served(api)
    before = database_state()
    body = "[" * 100_000 + "]" * 100_000
    response = api.post(
        f"/api/v1/battles/{battle.pk}/vote/", body, content_type="application/json", HTTP_X_ARENA_VOTER=token
    )
    assert response.status_code == 400
    assert response.json() == error(
        400, "parse_error", "JSON nested 100000 levels deep: at most 64 levels are accepted"
    )
    assert database_state() == before


def nested(depth: int) -> str:
    """A vote whose body nests `depth` levels: the object, then arrays."""
    return '{"outcome": "a", "extra": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def test_json_64_levels_deep_is_accepted_and_65_refused(api):
    battle, token = served(api)
    path = f"/api/v1/battles/{battle.pk}/vote/"
    deeper = api.post(path, nested(65), content_type="application/json", HTTP_X_ARENA_VOTER=token)
    assert deeper.json() == error(
        400, "parse_error", "JSON nested 65 levels deep: at most 64 levels are accepted"
    )
    assert not Vote.objects.exists()
    response = api.post(path, nested(64), content_type="application/json", HTTP_X_ARENA_VOTER=token)
    assert response.status_code == 201 and Vote.objects.get().outcome == "a"


def test_brackets_inside_strings_do_not_count_as_nesting(api):
    battle, token = served(api)
    reason = '[[[{{{"\\"[[' * 40  # 240 opening brackets and escaped quotes, all inside one string
    response = api.post(
        f"/api/v1/battles/{battle.pk}/vote/",
        vote_body(reason=reason),
        content_type="application/json",
        HTTP_X_ARENA_VOTER=token,
    )
    assert response.status_code == 201, response.content
    assert response.json()["reason"] == reason


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"outcome": ', "JSON parse error - Expecting value: line 1 column 13 (char 12)"),
        (
            b'{"outcome": "a", "reason": NaN}',
            "JSON parse error - Out of range float values are not JSON compliant: 'NaN'",
        ),
        (b'["unterminated', "JSON parse error - Unterminated string starting at: line 1 column 2 (char 1)"),
        (
            b'{"outcome": "\xff"}',
            "JSON parse error - 'utf-8' codec can't decode byte 0xff in position 13: invalid start byte",
        ),
    ],
)
def test_malformed_json_is_a_400_saying_where(api, body, message):
    battle, token = served(api)
    response = api.post(
        f"/api/v1/battles/{battle.pk}/vote/", body, content_type="application/json", HTTP_X_ARENA_VOTER=token
    )
    assert (response.status_code, response.json()) == (400, error(400, "parse_error", message))
    assert not Vote.objects.exists()


# --- The staff bank upload ------------------------------------------------------------------------------

IMPORT = "/api/v1/staff/questions/import/"


def multipart(name: str, content: bytes, **fields) -> bytes:
    upload = io.BytesIO(content)
    upload.name = name
    return encode_multipart(BOUNDARY, {"file": upload, **fields})


def bank(count: int, *, padding: int = 0) -> bytes:
    return "\n".join(
        json.dumps({"text": f"Question {number}? {'x' * padding}", "category": "QA"})
        for number in range(count)
    ).encode()


def test_an_upload_over_its_limit_is_refused_on_its_length_without_reading_it(staff_api):
    before = database_state()
    response, stream = send(
        staff_api,
        IMPORT,
        multipart("bank.jsonl", bank(3)),
        content_type=MULTIPART_CONTENT,
        length=50 * MEGABYTE,
    )
    assert response.status_code == 413
    assert response.json() == error(
        413,
        "content_too_large",
        "the request body is larger than the 33554432 bytes accepted here (ARENA_BANK_UPLOAD_MAX_BYTES)",
    )
    assert stream.bytes_read == 0
    assert database_state() == before


def test_a_chunked_upload_is_refused_while_streaming_once_over_its_limit(staff_api, settings):
    settings.ARENA_BANK_UPLOAD_MAX_BYTES = 64 * 1024
    before = database_state()
    body = multipart("bank.jsonl", bank(2000, padding=100))
    assert len(body) > 4 * 64 * 1024
    response, stream = send(staff_api, IMPORT, body, content_type=MULTIPART_CONTENT, chunked=True)
    assert response.status_code == 413
    assert response.json() == error(
        413,
        "content_too_large",
        "the request body is larger than the 65536 bytes accepted here (ARENA_BANK_UPLOAD_MAX_BYTES)",
    )
    assert stream.bytes_read == 64 * 1024 + 1
    assert database_state() == before


@pytest.mark.parametrize("chunked", [False, True])
def test_the_upload_has_its_own_limit_above_the_api_one(staff_api, settings, chunked):
    settings.ARENA_REQUEST_MAX_BYTES = 2048
    body = multipart("bank.jsonl", bank(50, padding=50))
    assert 2048 < len(body) < settings.ARENA_BANK_UPLOAD_MAX_BYTES
    response, _ = send(staff_api, IMPORT, body, content_type=MULTIPART_CONTENT, chunked=chunked)
    assert response.status_code == 200, response.content
    assert response.json()["questions_created"] == 50 and Question.objects.count() == 50


def test_the_upload_is_streamed_to_a_temporary_file_not_held_in_memory(staff_api):
    # 2 MB: a size Django would otherwise keep in memory (FILE_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB). The
    # file is refused for its name before the import reads it, so what the request holds is the upload's.
    body = multipart("bank.txt", b"x" * (2 * MEGABYTE))
    # A first, small upload loads what a process loads once (modules, catalogues, URL patterns).
    warm_up, _ = send(staff_api, IMPORT, multipart("bank.txt", b"x"), content_type=MULTIPART_CONTENT)
    assert warm_up.status_code == 400
    tracemalloc.start()
    try:
        response, stream = send(staff_api, IMPORT, body, content_type=MULTIPART_CONTENT)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert response.json() == error(
        400,
        "import_rejected",
        "bank.txt: unsupported file type '.txt'; supported: .jsonl, .ndjson, .csv, .md, .markdown",
    )
    assert stream.bytes_read == len(body)
    assert peak_bytes < MEGABYTE // 2


def test_form_fields_of_an_upload_over_djangos_limit_are_a_413_in_the_error_shape(staff_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    before = database_state()
    body = multipart("bank.jsonl", bank(1), dry_run="true" + " " * 4096)
    response, _ = send(staff_api, IMPORT, body, content_type=MULTIPART_CONTENT)
    assert response.status_code == 413
    assert response.json() == error(
        413,
        "content_too_large",
        "the form fields of the request are larger than the 2048 bytes accepted (ARENA_REQUEST_MAX_BYTES)",
    )
    assert database_state() == before


# --- Cursors --------------------------------------------------------------------------------------------

INVALID_CURSOR = error(
    400, "invalid_cursor", "cursor is not one this list gave out: follow the next or previous link of a page"
)


def lists_of_two_pages():
    """Two pages of questions, of voted battles and of snapshots (page_size=1)."""
    for _ in range(2):
        battle = BattleFactory(
            status=Battle.Status.VOTED, voter=VoterFactory(), served_at="2026-01-01T00:00:00Z"
        )
        VoteFactory(battle=battle, contender_a=battle.contender_a, contender_b=battle.contender_b)
    ratings_refresh()
    ratings_refresh(force=True)
    assert RatingSnapshot.objects.count() == 2


def next_cursor(api, path: str) -> str:
    link = api.get(path, {"page_size": 1}).json()["next"]
    return parse_qs(urlsplit(link).query)["cursor"][0]


def tampered(cursor: str) -> list[str]:
    payload, signature = cursor.rsplit(":", 1)
    other = "A" if signature[-1] != "A" else "B"
    return [
        f"{payload}:{signature[:-1]}{other}",
        f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}:{signature}",
    ]


LISTS = ["/api/v1/questions/", "/api/v1/battles/", "/api/v1/snapshots/"]


@pytest.mark.parametrize("path", LISTS)
def test_every_invalid_cursor_gets_one_answer(api, path, django_assert_num_queries):
    lists_of_two_pages()
    cursor = next_cursor(api, path)
    other_list = next_cursor(api, LISTS[(LISTS.index(path) + 1) % len(LISTS)])
    view_name = {
        "/api/v1/questions/": "questions",
        "/api/v1/battles/": "battles",
        "/api/v1/snapshots/": "snapshots",
    }
    signer = signing.Signer(salt=f"arena.cursor:api:{view_name[path]}:-id")
    invalid = [
        "garbage",
        "not-base64!",
        "cD1hYmM",  # bad base64 padding
        "cD1hYmM=",  # DRF's own format, position "abc"
        "cD0xLjU=",  # position 1.5
        "cD0lMDA=",  # position NUL
        "YWJj",  # decodes to no position at all: DRF served the first page
        "cj0x",  # r=1 alone
        *tampered(cursor),
        other_list,  # a cursor of another list
        cursor.replace(":", ":x", 1),
        signer.sign_object({"o": 0, "r": 0, "p": "abc"}),  # well signed, non-numeric position
        signer.sign_object({"o": 0, "r": 0, "p": "-5"}),
        signer.sign_object({"o": 10**9, "r": 0, "p": "1"}),
        signer.sign_object({"o": 0, "r": 2, "p": "1"}),
        signer.sign_object({"o": 0, "r": 0}),
        signer.sign_object(["o", "r", "p"]),
        signing.Signer(salt="arena.cursor:api:questions:id").sign_object({"o": 0, "r": 0, "p": "1"}),
    ]
    for value in invalid:
        with django_assert_num_queries(0):  # refused before the list is read
            response = api.get(path, {"cursor": value})
        assert (response.status_code, response.json()) == (400, INVALID_CURSOR), value


@pytest.mark.parametrize("path", LISTS)
def test_cursors_the_api_gives_out_page_forward_and_back(api, path):
    lists_of_two_pages()
    first = api.get(path, {"page_size": 1}).json()
    second = api.get(first["next"]).json()
    assert second["next"] is None and [item["id"] for item in second["results"]] != [
        item["id"] for item in first["results"]
    ]
    back = api.get(second["previous"]).json()
    assert back["results"] == first["results"]
    assert api.get(path, {"page_size": 1, "cursor": ""}).json() == first  # empty: the first page


# --- The vote's reason, and a vote sent twice ------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (5, "Not a valid string."),
        (1.5, "Not a valid string."),
        ({"why": "clearer"}, "Not a valid string."),
        (["clearer"], "Not a valid string."),
        (True, "Not a valid string."),
        (None, "This field may not be null."),
        ("x" * 501, "Ensure this field has no more than 500 characters."),
    ],
)
def test_a_reason_that_is_not_text_or_too_long_is_refused(api, reason, message):
    battle, token = served(api)
    before = database_state()
    response = api.post(
        f"/api/v1/battles/{battle.pk}/vote/",
        {"outcome": "a", "reason": reason},
        format="json",
        HTTP_X_ARENA_VOTER=token,
    )
    assert (response.status_code, response.json()) == (
        400,
        error(400, "invalid", f"reason: {message}", {"reason": [message]}),
    )
    assert database_state() == before
    assert Battle.objects.get(pk=battle.pk).status == Battle.Status.SERVED


def test_a_reason_of_500_characters_is_kept(api):
    battle, token = served(api)
    response = api.post(
        f"/api/v1/battles/{battle.pk}/vote/",
        {"outcome": "tie", "reason": "y" * 500},
        format="json",
        HTTP_X_ARENA_VOTER=token,
    )
    assert response.status_code == 201 and response.json()["reason"] == "y" * 500
    assert Vote.objects.get().reason == "y" * 500


@pytest.mark.parametrize(
    ("first", "repeat"),
    [
        ({"outcome": "b", "reason": "clearer"}, {"outcome": "b", "reason": "clearer"}),  # a retry
        ({"outcome": "b", "reason": "clearer"}, {"outcome": "a", "reason": "changed my mind"}),
        ({"outcome": "b", "reason": "clearer"}, {"outcome": "b"}),
        ({"outcome": "b", "reason": "clearer"}, {"outcome": "b", "reason": ""}),
        ({"outcome": "b"}, {"outcome": "b", "reason": "an afterthought"}),
    ],
)
def test_a_repeated_vote_returns_the_first_vote_unchanged(api, first, repeat):
    battle, token = served(api)
    path = f"/api/v1/battles/{battle.pk}/vote/"
    cast = api.post(path, first, format="json", HTTP_X_ARENA_VOTER=token)
    assert cast.status_code == 201
    after_first = database_state()
    again = api.post(path, repeat, format="json", HTTP_X_ARENA_VOTER=token)
    assert (again.status_code, again.json()) == (200, cast.json())
    assert again.json()["reason"] == first.get("reason", "")
    assert database_state() == after_first


# --- Staff contenders: null where the schema says so, and only there ---------------------------------------

SCHEMA = yaml.safe_load((ROOT / "openapi.yaml").read_text())
REQUEST_FIELDS = SCHEMA["components"]["schemas"]["StaffContenderRequest"]["properties"]
NULLABLE = sorted(name for name, field in REQUEST_FIELDS.items() if field.get("nullable"))
NOT_NULLABLE = sorted(name for name, field in REQUEST_FIELDS.items() if not field.get("nullable"))
NULL_MESSAGES = {
    "extra_headers": "May not be null: send {} for no extra headers.",
    "stop": "May not be null: send [] for no stop sequences.",
    "extra_parameters": "May not be null: send {} for no extra parameters.",
}
NEW_CONTENDER = {"name": "Qwen", "base_url": "http://gpu-1:8000/v1", "model_id": "qwen"}


def test_the_schema_types_the_json_fields_of_a_contender():
    for name in ("StaffContender", "StaffContenderRequest", "PatchedStaffContenderRequest"):
        fields = SCHEMA["components"]["schemas"][name]["properties"]
        assert {key: fields["extra_headers"][key] for key in ("type", "additionalProperties")} == {
            "type": "object",
            "additionalProperties": {"type": "string"},
        }
        assert {key: fields["stop"][key] for key in ("type", "items")} == {
            "type": "array",
            "items": {"type": "string"},
        }
        assert fields["extra_parameters"]["type"] == "object"
        for field in fields.values():
            assert "type" in field or "$ref" in field or "oneOf" in field or "allOf" in field, field
    assert NULLABLE == ["max_tokens", "request_timeout_seconds", "seed", "temperature", "top_p"]
    assert set(NULL_MESSAGES) <= set(NOT_NULLABLE)


@pytest.mark.parametrize("name", NOT_NULLABLE)
def test_null_is_refused_with_the_field_named_where_the_schema_says_not_nullable(staff_api, name):
    existing = ContenderFactory(name="existing")
    before = database_state()
    message = NULL_MESSAGES.get(name, "This field may not be null.")
    expected = error(400, "invalid", f"{name}: {message}", {name: [message]})
    created = staff_api.post("/api/v1/staff/contenders/", {**NEW_CONTENDER, name: None}, format="json")
    assert (created.status_code, created.json()) == (400, expected)
    changed = staff_api.patch(f"/api/v1/staff/contenders/{existing.pk}/", {name: None}, format="json")
    assert (changed.status_code, changed.json()) == (400, expected)
    assert database_state() == before


@pytest.mark.parametrize("name", NULLABLE)
def test_null_is_accepted_where_the_schema_says_nullable(staff_api, name):
    existing = ContenderFactory(
        name="existing", temperature=0.5, top_p=0.9, max_tokens=100, seed=7, request_timeout_seconds=30
    )
    created = staff_api.post("/api/v1/staff/contenders/", {**NEW_CONTENDER, name: None}, format="json")
    assert created.status_code == 201, created.content
    assert created.json()[name] is None and getattr(Contender.objects.get(name="Qwen"), name) is None
    changed = staff_api.patch(f"/api/v1/staff/contenders/{existing.pk}/", {name: None}, format="json")
    assert changed.status_code == 200 and changed.json()[name] is None
    existing.refresh_from_db()
    assert getattr(existing, name) is None


def test_empty_json_fields_mean_none(staff_api):
    created = staff_api.post(
        "/api/v1/staff/contenders/",
        {**NEW_CONTENDER, "extra_headers": {}, "stop": [], "extra_parameters": {}},
        format="json",
    )
    assert created.status_code == 201
    assert (created.json()["extra_headers"], created.json()["stop"], created.json()["extra_parameters"]) == (
        {},
        [],
        {},
    )


# --- One error shape for every 4xx under /api/ -----------------------------------------------------------


@pytest.mark.parametrize(
    ("request_kwargs", "expected"),
    [
        (
            {"method": "GET", "path": "/api/v1/contenders/", "HTTP_HOST": "evil.example"},
            error(400, "invalid", "the request is malformed and was refused"),
        ),
        (
            {"method": "GET", "path": "/api/v1/no-such-thing/"},
            error(404, "not_found", "no such resource: /api/v1/no-such-thing/"),
        ),
        (
            {"method": "DELETE", "path": "/api/v1/contenders/"},
            error(405, "method_not_allowed", 'Method "DELETE" not allowed.'),
        ),
        (
            {
                "method": "POST",
                "path": "/api/v1/battles/1/vote/",
                "data": "{}",
                "content_type": "application/json",
            },
            error(403, "voter_token_missing", "send the voter token as the X-Arena-Voter header"),
        ),
    ],
)
def test_every_client_error_under_the_api_has_the_one_error_shape(api, request_kwargs, expected):
    before = database_state()
    kwargs = dict(request_kwargs)
    response = api.generic(kwargs.pop("method"), kwargs.pop("path"), **kwargs)
    assert (response.status_code, response["Content-Type"], response.json()) == (
        expected["error"]["status"],
        "application/json",
        expected,
    )
    assert database_state() == before
