"""What the models share: constants, validators, where a row came from."""

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

http_url_validator = RegexValidator(
    r"^https?://[^\s/]+(/\S*)?$",
    _("Enter an http:// or https:// URL, for example http://127.0.0.1:8000/v1"),
)
# Secrets for endpoints come from environment variables named like this, so that a contender can never
# be made to send one of the arena's own settings (SECRET_KEY, DATABASE_URL, ...) to an endpoint.
SECRET_VARIABLE_PATTERN = r"^[A-Z][A-Z0-9_]*(_API_KEY|_TOKEN)$"  # noqa: S105 (a name pattern, not a secret)
secret_variable_validator = RegexValidator(
    SECRET_VARIABLE_PATTERN,
    _("Enter the name of an environment variable ending in _API_KEY or _TOKEN, e.g. DEEPSEEK_API_KEY."),
)


# A request may take at most this long; the generation task's time limits sit above it.
MAX_REQUEST_TIMEOUT_SECONDS = 600
# Seeds drawn for answers and probes: below 2**31, which every server takes as its seed type.
SEED_RANGE = 2**31


class Origin(models.TextChoices):
    """Where a question or contender came from. Seeded rows are synthetic load for benchmarks and are
    kept out of voters' battles (see battles.services.pool); demo rows are the demo `make run` loads,
    which is asked for and served like real data."""

    REAL = "real", _("real")
    DEMO = "demo", _("demo")
    SEEDED = "seeded", _("seeded for benchmarks")


ORIGIN_HELP_TEXT = _(
    "Seeded rows come from seed_arena or seed_votes and are not drawn into voters' battles unless "
    "ARENA_SERVE_SEEDED is on; demo rows come from the demo that make run loads."
)


def validate_json_object(value: object) -> None:
    if not isinstance(value, dict):
        raise ValidationError(_('Give a JSON object, e.g. {"presence_penalty": 0.5}.'), code="invalid")


def validate_text_object(value: object) -> None:
    if not isinstance(value, dict) or not all(
        isinstance(key, str) and isinstance(item, str) for key, item in value.items()
    ):
        raise ValidationError(_('Give a JSON object of texts, e.g. {"X-Team": "arena"}.'), code="invalid")


def validate_text_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_('Give a JSON list of texts, e.g. ["</s>"].'), code="invalid")
