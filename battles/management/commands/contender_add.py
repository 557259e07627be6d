import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser, no_translations

from battles.models import Contender
from battles.services.contenders import ContenderSettings, contender_save
from battles.services.health import concurrency_warning, contender_server_slots


class Command(BaseCommand):
    help = "Register an OpenAI-compatible endpoint as a contender (or update the one with this name)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Display name shown after a vote, e.g. 'Qwen2.5-7B-Instruct'.")
        parser.add_argument("--base-url", required=True, help="e.g. http://127.0.0.1:8000/v1")
        parser.add_argument("--model-id", required=True, help="The `model` field the endpoint expects.")
        parser.add_argument(
            "--api-key-env", default="", help="Name of the environment variable holding the key."
        )
        parser.add_argument("--system-prompt", default="")
        parser.add_argument("--temperature", type=float)
        parser.add_argument("--top-p", type=float)
        parser.add_argument("--max-tokens", type=int)
        parser.add_argument("--seed", type=int)
        parser.add_argument(
            "--timeout", type=float, dest="request_timeout_seconds", help="Seconds per answer."
        )
        parser.add_argument("--stop", action="append", default=[], help="A stop sequence (repeatable).")
        parser.add_argument(
            "--header",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="An extra request header (repeatable); VALUE may name a variable as ${NAME_API_KEY}.",
        )
        parser.add_argument(
            "--max-concurrent",
            type=int,
            default=None,
            help="Calls in flight, across all workers; by default what the server says it runs at once "
            "(llama.cpp's /props total_slots), else 8.",
        )
        parser.add_argument("--weight", type=float, default=1.0, help="Relative chance of being drawn.")
        parser.add_argument("--samples", type=int, default=1, help="Answers kept per question.")
        parser.add_argument("--no-stream", action="store_true", help="Ask for whole answers, not streams.")
        parser.add_argument("--no-stream-usage", action="store_true", help="Do not send stream_options.")
        parser.add_argument(
            "--extra", default="{}", help="Other body fields as JSON, e.g. '{\"top_k\": 20}'."
        )
        parser.add_argument("--description", default="")
        parser.add_argument("--inactive", action="store_true", help="Register it paused.")

    @no_translations
    def handle(self, *args: Any, **options: Any) -> None:
        try:
            extra = json.loads(options["extra"])
        except json.JSONDecodeError as error:
            raise CommandError(f"--extra is not valid JSON: {error}") from error
        if not isinstance(extra, dict):
            raise CommandError("--extra must be a JSON object, e.g. '{\"top_k\": 20}'")
        headers: dict[str, str] = {}
        for pair in options["header"]:
            name, separator, value = pair.partition("=")
            if not separator or not name.strip():
                raise CommandError(f"--header {pair!r}: write it as NAME=VALUE")
            headers[name.strip()] = value.strip()
        fields: ContenderSettings = {
            "kind": Contender.Kind.ENDPOINT,
            "base_url": options["base_url"],
            "model_id": options["model_id"],
            "api_key_env": options["api_key_env"],
            "system_prompt": options["system_prompt"],
            "temperature": options["temperature"],
            "top_p": options["top_p"],
            "max_tokens": options["max_tokens"],
            "seed": options["seed"],
            "request_timeout_seconds": options["request_timeout_seconds"],
            "extra_parameters": extra,
            "stop": options["stop"],
            "extra_headers": headers,
            "sampling_weight": options["weight"],
            "samples_per_question": options["samples"],
            "stream": not options["no_stream"],
            "stream_usage": not options["no_stream_usage"],
            "description": options["description"],
            "is_active": not options["inactive"],
        }
        if options["max_concurrent"] is not None:
            fields["max_concurrent_requests"] = options["max_concurrent"]
        try:
            contender, created = contender_save(name=options["name"], **fields)
        except ValidationError as error:
            problems = "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items()
            )
            raise CommandError(f"invalid contender: {problems}") from error
        self.stdout.write(
            f"{'created' if created else 'updated'} contender {contender.name} ({contender.base_url}, "
            f"model {contender.model_id})"
        )
        # A new contender without a limit of its own takes what its server runs at once; an existing
        # one keeps the limit it has (staff may have set it in the admin).
        slots = contender_server_slots(
            contender=contender, follow=created and options["max_concurrent"] is None
        )
        if slots is None:
            return
        self.stdout.write(
            f"its server runs {slots} requests at once; maximum concurrent requests: "
            f"{contender.max_concurrent_requests}"
        )
        warning = concurrency_warning(contender)
        if warning:
            self.stderr.write(f"warning: {warning}")
