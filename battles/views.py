import math
import uuid
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from arena import selectors as arena_selectors
from battles import selectors
from battles.models import Battle, Vote, Voter
from battles.services.holds import ServeLimited
from battles.services.proof_of_work import vote_puzzle
from battles.services.serving import battle_serve
from battles.services.voting import VoteRejected, ip_hash_of, vote_cast, vote_reason_set, voter_get_or_create

_VOTER_COOKIE_SALT = "arena.voter"


def client_ip(request: HttpRequest) -> str:
    """The voter's address: REMOTE_ADDR, or behind a trusted proxy the address the proxy saw."""
    if settings.ARENA_TRUST_X_FORWARDED_FOR:
        forwarded = [
            part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
        ]
        if forwarded:
            return forwarded[-1]
    # No address at all (a proxy on a unix socket, X-Forwarded-For not trusted): one shared name, so
    # that the limits per address still hold, for every such request together.
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _voter_from_cookie(request: HttpRequest) -> Voter | None:
    voter_id = _voter_id_from_cookie(request)
    return selectors.voter_find(voter_id=voter_id) if voter_id else None


def _voter_id_from_cookie(request: HttpRequest) -> uuid.UUID | None:
    raw = request.get_signed_cookie(settings.ARENA_VOTER_COOKIE_NAME, default=None, salt=_VOTER_COOKIE_SALT)
    try:
        return uuid.UUID(raw) if raw else None
    except (ValueError, signing.BadSignature):
        return None


def _with_voter_cookie(response: HttpResponse, voter: Voter) -> HttpResponse:
    response.set_signed_cookie(
        settings.ARENA_VOTER_COOKIE_NAME,
        str(voter.pk),
        salt=_VOTER_COOKIE_SALT,
        max_age=settings.ARENA_VOTER_COOKIE_MAX_AGE_SECONDS,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )
    return response


@require_GET
def battle_page(request: HttpRequest) -> HttpResponse:
    """The next battle for this voter, or a page that waits for one, or one that asks to slow down."""
    ip_hash = ip_hash_of(client_ip(request))
    voter = None
    try:
        voter = voter_get_or_create(voter_id=_voter_id_from_cookie(request), ip_hash=ip_hash)
        battle = battle_serve(voter=voter, ip_hash=ip_hash)
    except ServeLimited as limited:
        response = render(
            request, "battles/serve_limited.html", {"reason": limited.code}, status=limited.http_status
        )
        response["Retry-After"] = str(limited.retry_after)
        response["Cache-Control"] = "no-store"
        return response if voter is None else _with_voter_cookie(response, voter)
    if battle is None:
        response = render(request, "battles/waiting.html", status=200)
    else:
        response = render(request, "battles/battle.html", _battle_context(battle, voter))
    response["Cache-Control"] = "no-store"
    return _with_voter_cookie(response, voter)


def _battle_context(battle: Battle, voter: Voter, **extra: Any) -> dict[str, Any]:
    """What the battle page shows: the battle, the verdicts, and with ARENA_VOTE_POW_BITS on the
    puzzle the page's script solves while the answers are read."""
    challenge, bits = vote_puzzle(battle_id=battle.pk, voter_id=voter.pk)
    return {
        "battle": battle,
        "outcomes": Vote.Outcome.choices,
        "pow_challenge": challenge,
        "pow_bits": bits,
        **extra,
    }


@require_POST
def battle_vote(request: HttpRequest, battle_id: int) -> HttpResponse:
    voter = _voter_from_cookie(request)
    if voter is None:
        return HttpResponseBadRequest(_("Your voter cookie is missing: open the arena again to vote."))
    try:
        vote_cast(
            battle_id=battle_id,
            voter=voter,
            outcome=request.POST.get("outcome", ""),
            ip_hash=ip_hash_of(client_ip(request)),
            proof=request.POST.get("pow", ""),
        )
    except VoteRejected as rejection:
        status = rejection.http_status
        battle = None
        if rejection.code == "too_early":
            # Show the same battle again, with a word about taking the time to read it.
            battle = selectors.battle_served_to_voter(battle_id=battle_id, voter=voter)
        if battle is not None:
            context = _battle_context(battle, voter, too_early=True)
            response = render(request, "battles/battle.html", context, status=status)
        else:
            response = render(
                request, "battles/vote_rejected.html", {"reason": rejection.code}, status=status
            )
        if rejection.retry_after_seconds is not None:
            response["Retry-After"] = str(max(1, math.ceil(rejection.retry_after_seconds)))
        response["Cache-Control"] = "no-store"
        return response
    return _see_other(reverse("battles:detail", kwargs={"battle_id": battle_id}))


def _see_other(url: str) -> HttpResponse:
    # 303: the browser follows with a GET, and a reload does not post the form again.
    response = HttpResponseRedirect(url)
    response.status_code = 303
    return response


@require_POST
def battle_reason(request: HttpRequest, battle_id: int) -> HttpResponse:
    """The optional reason a voter gives after voting."""
    voter = _voter_from_cookie(request)
    if (
        voter is None
        or vote_reason_set(battle_id=battle_id, voter=voter, reason=request.POST.get("reason", "")) is None
    ):
        raise Http404
    return _see_other(reverse("battles:detail", kwargs={"battle_id": battle_id}) + "?reason=saved")


@require_GET
def battle_detail(request: HttpRequest, battle_id: int) -> HttpResponse:
    """After the vote: both answers again, with the names revealed."""
    voter = _voter_from_cookie(request)
    if voter is None:
        raise Http404
    battle = selectors.battle_revealed_for_voter(battle_id=battle_id, voter=voter)
    if battle is None:
        if selectors.battle_served_to_voter(battle_id=battle_id, voter=voter):
            return redirect("battles:next")
        raise Http404
    response = render(
        request,
        "battles/reveal.html",
        {
            "battle": battle,
            "vote": battle.vote,
            **_revealed(battle),
            "vote_count": selectors.voter_vote_count(voter=voter),
            "reason_saved": request.GET.get("reason") == "saved",
        },
    )
    response["Cache-Control"] = "no-store"
    return response


def _revealed(battle: Battle) -> dict[str, Any]:
    """Each side of a voted battle with its model and how it fared, and the verdict in words."""
    outcome, a, b = battle.vote.outcome, battle.contender_a, battle.contender_b
    results = {
        Vote.Outcome.A: ("won", "lost"),
        Vote.Outcome.B: ("lost", "won"),
        Vote.Outcome.TIE: ("tie", "tie"),
        Vote.Outcome.BOTH_BAD: ("bad", "bad"),
    }[Vote.Outcome(outcome)]
    badges = {"won": _("Winner"), "lost": "", "tie": _("Tie"), "bad": _("Both are bad")}
    if outcome == Vote.Outcome.A:
        stated = _("%(winner)s won against %(loser)s.") % {"winner": a.name, "loser": b.name}
    elif outcome == Vote.Outcome.B:
        stated = _("%(winner)s won against %(loser)s.") % {"winner": b.name, "loser": a.name}
    elif outcome == Vote.Outcome.TIE:
        stated = _("%(a)s and %(b)s are tied.") % {"a": a.name, "b": b.name}
    else:
        stated = _("Neither %(a)s nor %(b)s answered well.") % {"a": a.name, "b": b.name}
    sides = [
        {"key": key, "label": label, "contender": contender, "answer": answer, "result": result}
        | {"result_label": badges[result]}
        for key, label, contender, answer, result in (
            ("a", _("Answer A"), a, battle.answer_a, results[0]),
            ("b", _("Answer B"), b, battle.answer_b, results[1]),
        )
    ]
    return {"sides": sides, "verdict_stated": stated}


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. Touches no store, so an outage never restarts a web process."""
    return JsonResponse({"status": "ok"})


@require_GET
def readiness(request: HttpRequest) -> JsonResponse:
    """Readiness: database, cache, broker, workers, beat and the pool, with an overall status; 503
    when voters cannot be served, or with ?strict=1 whenever any check fails (for monitors). Staff
    (logged in to the admin) see the details: workers, errors, outages."""
    report = arena_selectors.readiness()
    strict = request.GET.get("strict") in {"1", "true", "yes"}
    failing = report["status"] == arena_selectors.NOT_READY or (
        strict and report["status"] != arena_selectors.READY
    )
    if not (request.user.is_authenticated and request.user.is_staff):
        report = arena_selectors.readiness_public(report)
    response = JsonResponse(report, status=503 if failing else 200)
    response["Cache-Control"] = "no-store"
    return response
