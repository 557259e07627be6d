"""Every write of a contender's settings: the admin, the staff API, `contender_add`, `demo_load` and the
imports all come here. The model's own validation (full_clean) decides what is valid. Health fields
are kept by the generation and health services; staff only clear a pause here (resume)."""

from typing import Any, Required, TypedDict, Unpack

from django.db import IntegrityError, transaction
from django.utils import timezone

from battles.leaks import clean_aliases, default_aliases
from battles.models import Contender
from battles.services.health import PAUSE_CLEARED
from battles.services.leaks import answers_leak_scan_request


class ContenderSettings(TypedDict, total=False):
    """What staff may set on a contender, besides its name."""

    kind: str
    description: str
    aliases: list[str]
    is_active: bool
    origin: str
    base_url: str
    model_id: str
    api_key_env: str
    extra_headers: dict[str, Any]
    system_prompt: str
    temperature: float | None
    top_p: float | None
    max_tokens: int | None
    seed: int | None
    stop: list[Any]
    extra_parameters: dict[str, Any]
    request_timeout_seconds: float | None
    stream: bool
    stream_usage: bool
    max_concurrent_requests: int
    sampling_weight: float
    samples_per_question: int


class ContenderFields(ContenderSettings, total=False):
    """A change to a contender: any of its settings, its name included."""

    name: str


class NewContender(ContenderSettings, total=False):
    """A new contender: a name, and settings where the defaults will not do."""

    name: Required[str]


CONTENDER_FIELD_NAMES = ContenderFields.__required_keys__ | ContenderFields.__optional_keys__


class ContenderNameTaken(Exception):
    """An import asked for an offline contender under the name of an endpoint contender.

    One name is one contender, and an endpoint contender generates its own answers: imported answers
    or battles never join it (they would mix with what it says itself), the import is refused."""

    def __init__(self, *, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        super().__init__(self.reason(imported="these answers"))

    def reason(self, *, imported: str) -> str:
        """Why, and what to do; `imported` says what was to be imported ("these answers")."""
        return (
            f'"{self.name}" is the name of an {self.kind} contender, which generates its own answers; '
            f"rename the model in the file (or the contender) to import {imported} as an offline contender"
        )


def _save_validated(contender: Contender, *, update_fields: list[str] | None = None) -> None:
    """Validate with the model's own rules and save; ValidationError when invalid, even when another
    writer took the name between the check and the save."""
    contender.full_clean()
    try:
        with transaction.atomic():
            contender.save(update_fields=update_fields)
    except IntegrityError:
        contender.full_clean()  # now finds what the database refused (a name taken meanwhile)
        raise


def contender_create(**fields: Unpack[NewContender]) -> Contender:
    """A new contender; invalid settings raise ValidationError and write nothing."""
    contender = Contender()
    for field_name, value in fields.items():
        setattr(contender, field_name, value)
    contender.aliases = clean_aliases(fields.get("aliases") or default_aliases(fields["name"]))
    _save_validated(contender)
    answers_leak_scan_request()  # its aliases may be named by answers already stored
    return contender


def contender_update(contender: Contender, **fields: Unpack[ContenderFields]) -> Contender:
    """Change these settings of a contender (the others as stored: health written meanwhile by the
    generation service is kept); invalid settings raise ValidationError and write nothing."""
    for field_name, value in fields.items():
        setattr(contender, field_name, value)
    if "aliases" in fields:
        contender.aliases = clean_aliases(fields["aliases"] or [])
    _save_validated(contender, update_fields=[*fields, "updated_at"])
    if "aliases" in fields:
        answers_leak_scan_request()
    return contender


def contender_save(*, name: str, **fields: Unpack[ContenderSettings]) -> tuple[Contender, bool]:
    """Create a contender or update the one with this name; invalid settings raise ValidationError."""
    with transaction.atomic():
        contender = Contender.objects.select_for_update().filter(name=name).first()
        if contender is None:
            return contender_create(name=name, **fields), True
        return contender_update(contender, **fields), False


def contender_pause(*, contender_id: int) -> int:
    """Staff take a contender out of new battles (its health and any pause after failures stay)."""
    return Contender.objects.filter(pk=contender_id).update(is_active=False, updated_at=timezone.now())


def contender_resume(*, contender_id: int) -> int:
    """Staff bring one contender back into battles now (see contenders_resume)."""
    return contenders_resume(contender_ids=[contender_id])


def contenders_resume(*, contender_ids: list[int]) -> int:
    """Staff bring contenders back into battles now: active, and any pause after failures cleared
    (with its streak and its flap history, since staff looked at it). A probe under way when staff
    resume finds its claim gone and saves nothing."""
    return Contender.objects.filter(pk__in=contender_ids).update(
        **PAUSE_CLEARED, is_active=True, flaps=0, restored_at=None, updated_at=timezone.now()
    )


def contender_names_check_offline(*, names: list[str]) -> None:
    """Raise ContenderNameTaken for the first of these names (in name order) that an endpoint
    contender has: an import can then refuse before it writes anything."""
    taken = Contender.objects.filter(name__in=names).exclude(kind=Contender.Kind.OFFLINE)
    for contender in taken.order_by("name")[:1]:
        raise ContenderNameTaken(name=contender.name, kind=contender.kind)


def contender_offline_get_or_create(
    *, name: str, description: str, endpoint_joins: bool = False
) -> tuple[Contender, bool]:
    """The offline contender of this name, created (with this description) when there is none; an
    endpoint contender of this name raises ContenderNameTaken (see there). `endpoint_joins`: what is
    imported is this arena's own record of its contenders (votes it exported), which goes back to the
    contender of that name whatever its kind."""
    contender, created = Contender.objects.get_or_create(
        name=name,
        defaults={
            "kind": Contender.Kind.OFFLINE,
            "description": description,
            "aliases": default_aliases(name),
        },
    )
    if contender.kind != Contender.Kind.OFFLINE and not endpoint_joins:
        raise ContenderNameTaken(name=contender.name, kind=contender.kind)
    return contender, created
