"""The pool of ready battles: drawn ahead of time so voters never wait for a model."""

import logging
import math
import random
import time
from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, Expression, Q, QuerySet
from django.utils import timezone

from arena import stores
from arena.locks import one_at_a_time
from battles import pairing
from battles.models import (
    SEED_RANGE,
    Answer,
    Battle,
    Contender,
    Origin,
    Question,
    QuestionVotes,
    VoteDay,
    Voter,
)
from battles.selectors import drawable_rows
from battles.services.leaks import leaking_answers_kept_out

if TYPE_CHECKING:
    from ratings.models import RatingSnapshot

logger = logging.getLogger(__name__)

# A question is drawn at random; if fewer than two contenders can answer it, another is drawn.
_DRAW_ATTEMPTS = 50
_REFILL_QUEUED_KEY = "battles:pool:refill-queued"
POOL_REFILL_LOCK = "pool-refill"
# The pairing plan is reused while the board is the same, for this long at most (the votes per
# question it holds are counted once a minute anyway).
PAIRING_PLAN_SECONDS = 5.0


class _SeededServed(Expression):
    """ARENA_SERVE_SEEDED as an SQL constant, read each time a query is compiled, not once at import:
    SERVABLE stays a plain Q that other modules import, and still follows the setting."""

    output_field = BooleanField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return ("TRUE" if settings.ARENA_SERVE_SEEDED else "FALSE"), []


# A battle may be shown only while its question and both contenders are active, and not seeded for
# benchmarks unless ARENA_SERVE_SEEDED is on.
SERVABLE = Q(question__is_active=True, contender_a__is_active=True, contender_b__is_active=True) & (
    Q(_SeededServed())
    | (
        ~Q(question__origin=Origin.SEEDED)
        & ~Q(contender_a__origin=Origin.SEEDED)
        & ~Q(contender_b__origin=Origin.SEEDED)
    )
)


class NoBattleCanBeDrawn(Exception):
    """Why no battle can be drawn right now, in words an admin can act on."""


@dataclass
class PoolRefillReport:
    target: int
    open_before: int
    battles_created: list[int] = field(default_factory=list)
    answers_queued: list[int] = field(default_factory=list)
    problem: str = ""


def contender_draw_weights(*, contenders: Sequence[Contender]) -> dict[int, float]:
    """Each contender's chance of being drawn: its sampling weight, boosted while it has few votes.

    Always finite and never negative, whatever the stored weights and vote counts are.
    """
    from ratings.selectors import contender_vote_counts

    votes = contender_vote_counts()
    boost = settings.ARENA_SAMPLING_BOOST
    boost_until = settings.ARENA_SAMPLING_BOOST_UNTIL_VOTES
    weights: dict[int, float] = {}
    for contender in contenders:
        base = contender.sampling_weight if math.isfinite(contender.sampling_weight) else 0.0
        fading = max(0.0, 1.0 - votes.get(contender.pk, 0) / boost_until)
        weights[contender.pk] = max(0.0, base) * (1.0 + boost * fading)
    return weights


def _weighted_pick(candidates: list[Contender], weights: dict[int, float], rng: random.Random) -> Contender:
    total = sum(weights[contender.pk] for contender in candidates)
    point = rng.uniform(0, total)
    for contender in candidates:
        point -= weights[contender.pk]
        if point <= 0:
            return contender
    return candidates[-1]


def drawable_contenders() -> tuple[list[Contender], dict[int, float]]:
    """Active contenders that are not paused and have a positive weight; raises with the reason if < 2."""
    active = list(drawable_rows(Contender.objects.filter(is_active=True, is_retired=False)))
    if len(active) < 2:
        raise NoBattleCanBeDrawn(f"{len(active)} active contender(s): a battle needs two.")
    healthy = [contender for contender in active if contender.paused_until is None]
    if len(healthy) < 2:
        paused = ", ".join(sorted(c.name for c in active if c.paused_until is not None))
        raise NoBattleCanBeDrawn(
            f"{len(healthy)} of {len(active)} active contenders can be drawn: the others are paused after "
            f"failures ({paused}) until a probe succeeds."
        )
    weights = contender_draw_weights(contenders=healthy)
    weighted = [contender for contender in healthy if weights[contender.pk] > 0]
    if len(weighted) < 2:
        raise NoBattleCanBeDrawn(
            f"{len(weighted)} healthy active contender(s) have a sampling weight above 0: a battle needs two."
        )
    return weighted, weights


def pairing_settings() -> pairing.PairingSettings:
    return pairing.PairingSettings(
        policy=settings.ARENA_PAIRING,
        exploration=settings.ARENA_PAIRING_EXPLORATION,
        pair_floor=settings.ARENA_PAIRING_PAIR_FLOOR,
        floor_share=settings.ARENA_PAIRING_FLOOR_SHARE,
        question_floor=settings.ARENA_PAIRING_QUESTION_FLOOR,
    )


# The last plan made in this process: (what it was made from, until when it is kept, the plan).
_plan_kept: list[tuple[tuple[Any, ...], float, pairing.PairingPlan | None]] = []


def pairing_plan(*, contenders: Sequence[Contender], weights: dict[int, float]) -> pairing.PairingPlan | None:
    """The adaptive policy over these contenders, from the newest overall board; None when
    ARENA_PAIRING is "weighted" or there is no board (with its pair counts) yet: then every draw is
    by weight. Reused for PAIRING_PLAN_SECONDS while the board and the contenders' weights stay."""
    from ratings.selectors import snapshot_latest

    config = pairing_settings()
    if config.policy == pairing.POLICY_WEIGHTED:
        return None
    snapshot = snapshot_latest()
    if snapshot is None:
        return None
    made_from = (
        snapshot.pk,
        config,
        tuple((contender.pk, weights[contender.pk]) for contender in contenders),
    )
    now = time.monotonic()
    if _plan_kept and _plan_kept[0][0] == made_from and now < _plan_kept[0][1]:
        return _plan_kept[0][2]
    plan = _pairing_plan_make(snapshot=snapshot, contenders=contenders, weights=weights, config=config)
    _plan_kept[:] = [(made_from, now + PAIRING_PLAN_SECONDS, plan)]
    return plan


def _pairing_plan_make(
    *,
    snapshot: "RatingSnapshot",
    contenders: Sequence[Contender],
    weights: dict[int, float],
    config: pairing.PairingSettings,
) -> pairing.PairingPlan | None:
    """Two queries for the board (rows, pair counts), two for the votes per question."""
    from ratings.selectors import leaderboard_row_values, pair_vote_matrix

    board_ids, board_votes = pair_vote_matrix(snapshot=snapshot)
    if not board_ids:
        return None
    ids = [contender.pk for contender in contenders]
    place = {contender_id: index for index, contender_id in enumerate(ids)}
    ratings = np.full(len(ids), np.nan)
    errors = np.full(len(ids), np.nan)
    counts = np.zeros(len(ids), dtype=np.int64)
    for row in leaderboard_row_values(
        snapshot=snapshot, fields=["bt_rating", "sandwich_low", "sandwich_high", "votes"]
    ):
        if (index := place.get(row["contender_id"])) is not None:
            ratings[index] = row["bt_rating"]
            errors[index] = (row["sandwich_high"] - row["sandwich_low"]) / (2 * pairing.Z_95)
            counts[index] = row["votes"]
    if settings.ARENA_PAIRING_JUDGE_PRIOR:
        ratings, errors = _judge_prior(ids, ratings, errors, counts)
    board_place = {contender_id: index for index, contender_id in enumerate(board_ids)}
    on_board = [(index, board_place[pk]) for index, pk in enumerate(ids) if pk in board_place]
    votes = np.zeros((len(ids), len(ids)), dtype=np.int64)
    if on_board:
        mine, theirs = (list(column) for column in zip(*on_board, strict=True))
        votes[np.ix_(mine, mine)] = np.asarray(board_votes, dtype=np.int64)[np.ix_(theirs, theirs)]
    distribution = pairing.pair_distribution(
        contender_ids=ids,
        ratings=ratings,
        standard_errors=errors,
        pair_votes=votes,
        draw_weights=np.array([weights[pk] for pk in ids]),
        settings=config,
    )
    return pairing.PairingPlan(
        distribution=distribution,
        question_votes=_question_votes() if config.question_floor > 0 else {},
        question_floor=config.question_floor,
        snapshot_id=snapshot.pk,
    )


def _judge_prior(
    ids: list[int], ratings: np.ndarray, errors: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The LLM judges' board as the prior of contenders the voters have not settled (judges/): a
    newcomer is paired near where the judges put it, not at the board's mean."""
    from judges.selectors import judge_ratings_latest

    judged = judge_ratings_latest()
    if not judged:
        return ratings, errors
    rows = np.array([judged.get(pk, (np.nan, np.nan, np.nan)) for pk in ids], dtype=np.float64)
    judge_ratings, judge_errors = rows[:, 0], (rows[:, 2] - rows[:, 1]) / (2 * pairing.Z_95)
    return pairing.with_judge_prior(
        ratings, errors, counts, judge_ratings, judge_errors, settled_votes=settings.ARENA_PRELIMINARY_VOTES
    )


def _question_votes() -> dict[int, int]:
    """Votes per question as tallied (every minute): the final days' totals plus the days still counted."""
    votes = dict(QuestionVotes.objects.values_list("question_id", "votes"))
    for questions in VoteDay.objects.filter(is_final=False).values_list("questions", flat=True):
        for question_id, count in questions.items():
            votes[int(question_id)] = votes.get(int(question_id), 0) + count
    return votes


def _focused_pick(
    *,
    plan: pairing.PairingPlan,
    candidates: list[Contender],
    chosen: list[tuple[Contender, Answer]],
    partner: int | None,
    weights: dict[int, float],
    rng: random.Random,
) -> tuple[Contender, int | None]:
    """The next contender by the policy's floor and information parts, and the partner drawn with it
    (tried next): a pair among the candidates, or the chosen one's partner (drawn again if it could
    not answer). By weight when no such pair has a chance."""
    by_id = {contender.pk: contender for contender in candidates}
    if chosen and partner in by_id:
        return by_id[partner], None
    drawn = plan.distribution.focused_pair(
        rng.random(), among=by_id.keys(), with_contender=chosen[0][0].pk if chosen else None
    )
    if drawn is None:
        return _weighted_pick(candidates, weights, rng), None
    return (by_id[drawn[1]], None) if chosen else (by_id[drawn[0]], drawn[1])


def _answer_for(
    *,
    question: Question,
    contender: Contender,
    rng: random.Random,
    created_answer_ids: set[int],
    excluded_answer_ids: AbstractSet[int] = frozenset(),
) -> Answer | None:
    """An answer of this contender to reuse or to wait for, or a new pending one; None if it can't answer.

    Endpoint contenders keep `samples_per_question` samples, each with its own seed: a random sample
    is picked, and created (pending) if it does not exist yet. Offline contenders offer their
    imported answers.
    """
    answers = list(Answer.objects.filter(question=question, contender=contender))
    usable = [answer for answer in answers if answer.status != Answer.Status.FAILED]
    if leaking_answers_kept_out():
        # An answer that names a model gives it away: another sample, or none (battles/leaks.py).
        usable = [answer for answer in usable if not answer.leaks]
    # Answers the voter saw with their model's name: another sample, or none.
    usable = [answer for answer in usable if answer.pk not in excluded_answer_ids]
    if not contender.is_endpoint:
        done = [answer for answer in usable if answer.status == Answer.Status.DONE]
        return rng.choice(done) if done else None
    sample_index = rng.randrange(contender.samples_per_question)
    by_sample = {answer.sample_index: answer for answer in answers}
    chosen = by_sample.get(sample_index)
    if chosen is not None:
        if chosen in usable:
            return chosen
        if usable:
            return rng.choice(usable)
        # Every sample so far failed or names a model: a sample not asked for yet, if one is left.
        missing = [index for index in range(contender.samples_per_question) if index not in by_sample]
        if not missing:
            return None
        sample_index = rng.choice(missing)
    seed = contender.seed + sample_index if contender.seed is not None else rng.randrange(SEED_RANGE)
    try:
        with transaction.atomic():
            answer = Answer.objects.create(
                question=question,
                contender=contender,
                sample_index=sample_index,
                seed=seed,
                retry_at=timezone.now(),
            )
    except IntegrityError:
        # Another pool run created this sample a moment ago.
        return Answer.objects.get(question=question, contender=contender, sample_index=sample_index)
    created_answer_ids.add(answer.pk)
    return answer


def _battle_create(
    *,
    question: Question,
    contender_a: Contender,
    contender_b: Contender,
    answer_a: Answer,
    answer_b: Answer,
    reserved_for: Voter | None,
    holder_ip_hash: str,
) -> Battle | None:
    """Create the battle, ready at once if both answers are done; None if one has just failed.

    The answers are locked while the battle is created: an answer finishing at this moment either
    finishes first (and the battle is created ready) or waits until the battle exists (and its
    generation task then makes the battle ready). Without the lock, a battle could wait forever.
    """
    with transaction.atomic():
        locked = {
            answer.pk: answer
            for answer in Answer.objects.select_for_update().filter(pk__in=[answer_a.pk, answer_b.pk])
        }
        statuses = {locked[answer_a.pk].status, locked[answer_b.pk].status}
        if Answer.Status.FAILED in statuses:
            return None
        both_done = statuses == {Answer.Status.DONE}
        return Battle.objects.create(
            question=question,
            contender_a=contender_a,
            contender_b=contender_b,
            answer_a=answer_a,
            answer_b=answer_b,
            status=Battle.Status.READY if both_done else Battle.Status.GENERATING,
            ready_at=timezone.now() if both_done else None,
            voter=reserved_for,
            holder_ip_hash=holder_ip_hash if reserved_for is not None else "",
        )


def battle_draw(
    *,
    rng: random.Random,
    created_answer_ids: set[int] | None = None,
    question_ids: Sequence[int] | None = None,
    reserved_for: Voter | None = None,
    holder_ip_hash: str = "",
    excluded_answer_ids: AbstractSet[int] = frozenset(),
) -> Battle:
    """Draw a question and two contenders, sides at random: by adaptive pairing from the newest board
    (battles/pairing.py; its exploration share, and every draw before there is a board or with
    ARENA_PAIRING "weighted", takes a question uniformly and two contenders by weight).

    `question_ids` limits the draw to those questions (a voter's unseen ones); `reserved_for` keeps
    the battle for that voter instead of putting it in the shared pool, held for the voter's address
    (`holder_ip_hash`). Seeded questions and contenders are left out unless ARENA_SERVE_SEEDED is on.
    """
    created_answer_ids = set() if created_answer_ids is None else created_answer_ids
    contenders, weights = drawable_contenders()
    offline_ids = {contender.pk for contender in contenders if not contender.is_endpoint}
    if question_ids is None:
        question_ids = list(
            drawable_rows(Question.objects.filter(is_active=True)).values_list("id", flat=True)
        )
    elif not settings.ARENA_SERVE_SEEDED:
        # The caller (a voter's unseen questions) does not leave seeded questions out by itself.
        question_ids = list(
            Question.objects.filter(pk__in=question_ids)
            .exclude(origin=Origin.SEEDED)
            .values_list("id", flat=True)
        )
    if not question_ids:
        raise NoBattleCanBeDrawn("there is no active question: import a bank with `manage.py import_bank`.")
    plan = pairing_plan(contenders=contenders, weights=weights)
    below_floor = [] if plan is None else plan.questions_below_floor(question_ids)
    for _ in range(_DRAW_ATTEMPTS):
        # A share of draws explores: by weight, any question, as without adaptive pairing.
        focused = plan is not None and rng.random() >= plan.distribution.shares.exploration
        question_id = rng.choice(below_floor if focused and below_floor else question_ids)
        question = Question.objects.get(pk=question_id)
        answered_offline = set(
            Answer.objects.filter(
                question=question, contender_id__in=offline_ids, status=Answer.Status.DONE
            ).values_list("contender_id", flat=True)
        )
        candidates = [c for c in contenders if c.is_endpoint or c.pk in answered_offline]
        chosen: list[tuple[Contender, Answer]] = []
        partner: int | None = None
        while len(chosen) < 2 and len(candidates) >= 2 - len(chosen):
            if plan is not None and focused:
                contender, partner = _focused_pick(
                    plan=plan, candidates=candidates, chosen=chosen, partner=partner, weights=weights, rng=rng
                )
            else:
                contender = _weighted_pick(candidates, weights, rng)
            candidates.remove(contender)
            answer = _answer_for(
                question=question,
                contender=contender,
                rng=rng,
                created_answer_ids=created_answer_ids,
                excluded_answer_ids=excluded_answer_ids,
            )
            if answer is not None:
                chosen.append((contender, answer))
        if len(chosen) < 2:
            if question_id in below_floor:  # no pair for it now: the other questions below the floor first
                below_floor.remove(question_id)
            continue
        if rng.random() < 0.5:
            chosen.reverse()
        (contender_a, answer_a), (contender_b, answer_b) = chosen
        battle = _battle_create(
            question=question,
            contender_a=contender_a,
            contender_b=contender_b,
            answer_a=answer_a,
            answer_b=answer_b,
            reserved_for=reserved_for,
            holder_ip_hash=holder_ip_hash,
        )
        if battle is not None:
            return battle
    raise NoBattleCanBeDrawn(
        f"no question among {_DRAW_ATTEMPTS} drawn has two contenders able to answer it "
        "(offline contenders need imported answers; failed answers are not drawn)."
    )


def answers_queue(*, answer_ids: Sequence[int]) -> None:
    """Queue generation of new answers once the current transaction commits. Without a broker they
    stay pending, and the sweeper queues them once their retry is overdue."""
    from battles.tasks import answer_generate_task

    def _queue(answer_id: int) -> None:
        stores.call(
            stores.BROKER,
            "queue an answer",
            lambda: answer_generate_task.delay(answer_id),
            fallback=lambda: None,
        )

    for answer_id in sorted(answer_ids):
        transaction.on_commit(partial(_queue, answer_id), robust=True)


def battle_pool_refill_locked(*, target: int | None = None) -> list[int]:
    """Refill, one process at a time (two at once would both see the same shortfall and overfill
    the pool), and once more while battles were taken from the pool during a refill. A request that
    finds a refill running leaves it to that refill. Returns the battles this call drew."""
    target = settings.ARENA_POOL_TARGET if target is None else target
    reports: list[PoolRefillReport] = []

    def below_target() -> bool:
        # Only while the refill can draw: a bank with nothing to draw waits for beat's next refill.
        return bool(reports) and not reports[-1].problem and _pool_open().count() < target

    one_at_a_time(
        POOL_REFILL_LOCK, work=lambda: reports.append(battle_pool_refill(target=target)), pending=below_target
    )
    return [battle for report in reports for battle in report.battles_created]


def _pool_open() -> QuerySet[Battle]:
    """The battles of the shared pool: open (ready or waiting for answers) and held for no voter."""
    return Battle.objects.filter(
        SERVABLE, status__in=[Battle.Status.GENERATING, Battle.Status.READY], voter__isnull=True
    )


def battle_pool_refill(*, target: int | None = None, rng: random.Random | None = None) -> PoolRefillReport:
    """Draw battles until the shared pool holds `target` open ones (ready or waiting for answers).

    Battles held for voters (served, or drawn for one) are not in the pool: the refill draws around
    them, so voters holding battles never leave the next voter waiting for longer than a draw."""
    rng = rng or random.Random()
    target = settings.ARENA_POOL_TARGET if target is None else target
    open_battles = _pool_open()
    created_answer_ids: set[int] = set()
    report = PoolRefillReport(target=target, open_before=open_battles.count())
    for _ in range(max(0, target - report.open_before)):
        try:
            battle = battle_draw(rng=rng, created_answer_ids=created_answer_ids)
        except NoBattleCanBeDrawn as problem:
            report.problem = str(problem)
            logger.warning("the battle pool cannot grow: %s", problem)
            break
        report.battles_created.append(battle.pk)
    report.answers_queued = sorted(created_answer_ids)
    answers_queue(answer_ids=report.answers_queued)
    return report


def battle_pool_refill_request() -> None:
    """Ask for a refill soon; requests in the same few seconds share one run. Without Redis or the
    broker nothing is queued: beat refills every ARENA_POOL_REFILL_INTERVAL_SECONDS anyway."""
    from battles.tasks import battle_pool_refill_task

    def _queue() -> None:
        first = stores.call(
            stores.CACHE,
            "coalesce pool refills",
            lambda: cache.add(_REFILL_QUEUED_KEY, "1", timeout=5),
            fallback=lambda: True,
        )
        if first:
            stores.call(
                stores.BROKER,
                "queue a pool refill",
                lambda: battle_pool_refill_task.delay(),
                fallback=lambda: None,
            )

    transaction.on_commit(_queue, robust=True)
