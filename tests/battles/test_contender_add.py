from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from battles.models import Contender
from tests.fault_server import fault_server

pytestmark = pytest.mark.django_db


def test_registers_and_then_updates_an_endpoint_contender():
    out = StringIO()
    call_command(
        "contender_add",
        "DeepSeek-V3",
        "--base-url",
        "https://api.deepseek.com/v1",
        "--model-id",
        "deepseek-chat",
        "--api-key-env",
        "DEEPSEEK_API_KEY",
        "--temperature",
        "0.7",
        "--extra",
        '{"top_k": 20}',
        stdout=out,
    )
    assert (
        out.getvalue() == "created contender DeepSeek-V3 (https://api.deepseek.com/v1, model deepseek-chat)\n"
    )
    contender = Contender.objects.get()
    assert (contender.kind, contender.api_key_env, contender.temperature, contender.extra_parameters) == (
        "endpoint",
        "DEEPSEEK_API_KEY",
        0.7,
        {"top_k": 20},
    )
    call_command(
        "contender_add",
        "DeepSeek-V3",
        "--base-url",
        "http://vllm:8000/v1",
        "--model-id",
        "x",
        stdout=StringIO(),
    )
    contender.refresh_from_db()
    assert (contender.base_url, contender.model_id, contender.temperature) == (
        "http://vllm:8000/v1",
        "x",
        None,
    )
    assert Contender.objects.count() == 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--base-url", "ftp://host/v1", "--model-id", "m"], "base_url"),
        (["--base-url", "http://h/v1", "--model-id", "m", "--api-key-env", "my key"], "api_key_env"),
        (
            ["--base-url", "http://h/v1", "--model-id", "m", "--api-key-env", "SECRET_KEY"],
            "_API_KEY or _TOKEN",
        ),
        (["--base-url", "http://h/v1", "--model-id", "m", "--temperature", "3"], "temperature"),
        (["--base-url", "http://h/v1", "--model-id", "m", "--extra", "[1]"], "JSON object"),
        (["--base-url", "http://h/v1", "--model-id", "m", "--extra", "{oops"], "not valid JSON"),
    ],
)
def test_invalid_settings_are_refused_and_nothing_is_saved(arguments, message):
    with pytest.raises(CommandError, match=message):
        call_command("contender_add", "Broken", *arguments, stdout=StringIO())
    assert not Contender.objects.exists()


def test_the_concurrency_limit_follows_the_slots_a_llamacpp_server_reports():
    with fault_server() as server:
        server.total_slots = 4
        out, err = StringIO(), StringIO()
        call_command("contender_add", "tiny", "--base-url", server.base_url, "--model-id", "ok", stdout=out)
        contender = Contender.objects.get(name="tiny")
        assert (contender.server_slots, contender.max_concurrent_requests) == (4, 4)
        assert (
            out.getvalue().splitlines()[-1]
            == "its server runs 4 requests at once; maximum concurrent requests: 4"
        )

        # A limit given by hand is kept, with a warning when it is above the server's slots.
        args = ["--base-url", server.base_url, "--model-id", "ok", "--max-concurrent", "12"]
        call_command("contender_add", "tiny", *args, stdout=out, stderr=err)
        assert Contender.objects.get(name="tiny").max_concurrent_requests == 12
        assert err.getvalue().startswith("warning: tiny may send 12 requests at once, but its server runs 4")

        # A server that does not say (vLLM, hosted APIs): the default stays 8.
        server.total_slots = None
        call_command("contender_add", "other", "--base-url", server.base_url, "--model-id", "ok", stdout=out)
        other = Contender.objects.get(name="other")
        assert (other.server_slots, other.max_concurrent_requests) == (None, 8)
