"""Attacks on the board, with the defences off and on: a bank of 200 questions, 10 contenders of known
strengths, 1,000 honest simulated voters and four attacks, every vote served and cast through the real
serving and voting services.

Honest voters follow Bradley-Terry with the contenders' true strengths (15% ties, 5% both bad), take
a time to decide that grows with the answers' length (a tenth of them skim), arrive over a week, and
one in five shares an address with nine others (an office, a campus). The attacks, each on its own
beside the same honest votes, all serve one target (the third weakest contender):
(a) 5% more voters (50), each casting 40 votes, always for the target when it is in the battle, and
    honestly otherwise;
(b) a ring of 50 cookies from 3 addresses, within two hours, 20 votes each, for the target whenever
    it is there and honestly otherwise;
(c) 50 voters casting 20 votes each at random, in 0.5 to 2 s (and, as c_slow, the same in 3 to 5 s:
    just over the minimum time to decide, so that only the sweep's signals can catch them);
(d) 50 voters who read every answer of the target in browse mode, then cast 40 votes: for the target
    whenever they recognise its answer, against any other model they recognise, honestly otherwise.

Defences off: no minimum time to decide, recognised answers served, no integrity sweep. On: the
defaults (3 s minimum, recognised answers never served, the sweep run twice as its schedule would,
the board refreshed between). The rate limits, which count real seconds, are raised in both: the
simulation casts in minutes what its timeline spreads over a week, and the limits are not what is
measured here.

For each attack: the target's Bradley-Terry rating shift from the honest board, in units of the
target's honest 95% interval half-width (bootstrap, 1,000 rounds); and the share of honest votes not
counted (left out by the sweep, or refused) with the defences on, the worst of the four attacks.
"""

import datetime as dt
import math
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field

import numpy as np
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from battles.models import Answer, Battle, Category, Contender, Question, Vote, Voter, question_text_sha256
from battles.services.browse import answers_read_record
from battles.services.integrity import integrity_sweep
from battles.services.pool import battle_pool_refill
from battles.services.serving import battle_serve
from battles.services.voting import VoteRejected, vote_record
from ratings import algorithms
from ratings.services import ratings_recount_request, ratings_refresh_locked
from tests.benchmarks.conftest import report

pytestmark = pytest.mark.django_db(transaction=True)

QUESTIONS = 200
CONTENDERS = 10
# Fewer honest voters (ARENA_BENCH_HONEST_VOTERS) make a quick look, not the figures.
HONEST_VOTERS = int(os.environ.get("ARENA_BENCH_HONEST_VOTERS", "1000"))
TARGET_INDEX = 2  # the third weakest
STRENGTHS = [900.0 + 50.0 * i for i in range(CONTENDERS)]  # true Elo-scale ratings
TIE, BOTH_BAD = 0.15, 0.05
WEEK = 7 * 86_400.0
LIMITS = {
    "ARENA_VOTES_PER_MINUTE_PER_VOTER": 1_000_000,
    "ARENA_VOTES_PER_MINUTE_PER_IP": 1_000_000,
    "ARENA_VOTES_PER_DAY_PER_VOTER": 1_000_000,
    "ARENA_NEW_BATTLES_PER_MINUTE_PER_VOTER": 1_000_000,
    "ARENA_NEW_BATTLES_PER_MINUTE_PER_IP": 1_000_000,
    "ARENA_HELD_BATTLES_PER_IP": 1_000_000,
    "ARENA_NEW_VOTERS_PER_MINUTE_PER_IP": 1_000_000,
    "ARENA_POOL_TARGET": 30,
}
DEFENCES_OFF = {"ARENA_VOTE_MIN_SECONDS": 0, "ARENA_SERVE_RECOGNISABLE_ANSWERS": True}
DEFENCES_ON = {"ARENA_VOTE_MIN_SECONDS": 3.0, "ARENA_SERVE_RECOGNISABLE_ANSWERS": False}

WORDS = [
    "model",
    "answer",
    "reason",
    "step",
    "result",
    "value",
    "check",
    "point",
    "detail",
    "example",
    "case",
    "order",
]


@dataclass
class Arena:
    contenders: list[Contender]
    index_of: dict[int, int]
    target: Contender
    answer_contender: dict[int, int] = field(default_factory=dict)  # answer id -> contender id
    chars: dict[int, int] = field(default_factory=dict)  # answer id -> characters


@dataclass
class Cast:
    """Votes cast in a phase: the voters, and the simulated moment and time to decide of each vote."""

    voters: list[uuid.UUID] = field(default_factory=list)
    first_seen: dict[uuid.UUID, float] = field(default_factory=dict)
    moments: dict[int, float] = field(default_factory=dict)  # vote id -> seconds after the start
    attempted: int = 0
    refused: int = 0


def _arena(rng: random.Random) -> Arena:
    categories = [Category.objects.create(code=f"c{i}", name=f"Category {i}") for i in range(10)]
    questions = [
        Question.objects.create(
            text=f"Question {i}: explain point {i} in detail.",
            text_sha256=question_text_sha256(f"Question {i}: explain point {i} in detail."),
            category=categories[i % 10],
            language="en",
        )
        for i in range(QUESTIONS)
    ]
    contenders = [
        Contender.objects.create(
            name=f"contender-{i:02d}", kind=Contender.Kind.OFFLINE, base_url="", model_id="", aliases=[]
        )
        for i in range(CONTENDERS)
    ]
    answers = []
    for question in questions:
        for contender in contenders:
            length = rng.randint(40, 160)
            text = " ".join(rng.choice(WORDS) for _ in range(length)) + "."
            answers.append(
                Answer(
                    question=question,
                    contender=contender,
                    status=Answer.Status.DONE,
                    text=text,
                    html=f"<p>{text}</p>",
                )
            )
    Answer.objects.bulk_create(answers, batch_size=1000)
    arena = Arena(
        contenders=contenders,
        index_of={c.pk: i for i, c in enumerate(contenders)},
        target=contenders[TARGET_INDEX],
    )
    for answer_id, contender_id, text in Answer.objects.values_list("id", "contender_id", "text"):
        arena.answer_contender[answer_id] = contender_id
        arena.chars[answer_id] = len(text)
    return arena


def _honest_outcome(rng: random.Random, arena: Arena, battle: Battle) -> str:
    draw = rng.random()
    if draw < TIE:
        return "tie"
    if draw < TIE + BOTH_BAD:
        return "both_bad"
    a = STRENGTHS[arena.index_of[battle.contender_a_id]]
    b = STRENGTHS[arena.index_of[battle.contender_b_id]]
    return "a" if rng.random() < 1 / (1 + 10 ** ((b - a) / 400)) else "b"


def _honest_seconds(rng: random.Random, arena: Arena, battle: Battle, *, skimmer: bool) -> float:
    chars = arena.chars[battle.answer_a_id] + arena.chars[battle.answer_b_id]
    median = 6 + chars / 200 if skimmer else 10 + chars / 15
    return min(280.0, median * math.exp(rng.gauss(0, 0.5 if skimmer else 0.6)))


class Simulation:
    def __init__(self, arena: Arena, rng: random.Random) -> None:
        self.arena = arena
        self.rng = rng
        self.served = 0

    def session(
        self,
        cast: Cast,
        *,
        votes: int,
        ip_hash: str,
        start: float,
        choose,  # (battle) -> (outcome, seconds)
        voter: Voter | None = None,
    ) -> Voter:
        voter = voter or Voter.objects.create()
        cast.voters.append(voter.pk)
        cast.first_seen[voter.pk] = start
        moment = start
        for _ in range(votes):
            if self.served % 10 == 0:
                battle_pool_refill(rng=self.rng)
            battle = battle_serve(voter=voter, rng=self.rng, ip_hash=ip_hash)
            self.served += 1
            if battle is None:
                break
            outcome, seconds = choose(battle)
            # The battle was shown `seconds` ago: the vote service measures the time to decide itself.
            Battle.objects.filter(pk=battle.pk).update(
                served_at=timezone.now() - dt.timedelta(seconds=seconds)
            )
            cast.attempted += 1
            moment += seconds
            try:
                recorded = vote_record(battle_id=battle.pk, voter=voter, outcome=outcome, ip_hash=ip_hash)
            except VoteRejected:
                cast.refused += 1
                # A refused vote leaves the battle held: let it go back, as the sweeper would.
                Battle.objects.filter(pk=battle.pk).update(status=Battle.Status.RETIRED)
                continue
            cast.moments[recorded.vote.pk] = moment
            moment += self.rng.uniform(3, 15)
        return voter

    def honest(self, cast: Cast, *, voters: int) -> None:
        shared = [f"office-{i}" for i in range(voters // 50)]
        for number in range(voters):
            skimmer = self.rng.random() < 0.1
            votes = max(1, min(80, round(math.exp(self.rng.gauss(math.log(9), 0.8)))))
            ip_hash = self.rng.choice(shared) if number % 5 == 0 else f"home-{number}"
            self.session(
                cast,
                votes=votes,
                ip_hash=ip_hash,
                start=self.rng.uniform(0, WEEK - 7200),
                choose=lambda battle, skimmer=skimmer: (
                    _honest_outcome(self.rng, self.arena, battle),
                    _honest_seconds(self.rng, self.arena, battle, skimmer=skimmer),
                ),
            )

    def for_target(self, battle: Battle) -> tuple[str, float]:
        target = self.arena.target.pk
        seconds = _honest_seconds(self.rng, self.arena, battle, skimmer=False)
        if battle.contender_a_id == target:
            return "a", seconds
        if battle.contender_b_id == target:
            return "b", seconds
        return _honest_outcome(self.rng, self.arena, battle), seconds

    def attack_a(self, cast: Cast) -> None:
        for number in range(50):
            self.session(
                cast,
                votes=40,
                ip_hash=f"a-{number}",
                start=self.rng.uniform(0, WEEK - 7200),
                choose=self.for_target,
            )

    def attack_b(self, cast: Cast) -> None:
        start = WEEK / 2
        for number in range(50):
            self.session(
                cast,
                votes=20,
                ip_hash=f"ring-{number % 3}",
                start=start + self.rng.uniform(0, 7200),
                choose=self.for_target,
            )

    def random_votes(self, cast: Cast, *, fastest: float, slowest: float, label: str) -> None:
        for number in range(50):
            self.session(
                cast,
                votes=20,
                ip_hash=f"{label}-{number}",
                start=self.rng.uniform(0, WEEK - 7200),
                choose=lambda battle: (
                    self.rng.choice(["a", "b", "tie", "both_bad"]),
                    self.rng.uniform(fastest, slowest),
                ),
            )

    def attack_c(self, cast: Cast) -> None:
        self.random_votes(cast, fastest=0.5, slowest=2.0, label="c")

    def attack_c_slow(self, cast: Cast) -> None:
        """(c), just slow enough to pass the minimum time to decide: 3 to 5 s."""
        self.random_votes(cast, fastest=3.0, slowest=5.0, label="c-slow")

    def attack_d(self, cast: Cast) -> None:
        target = self.arena.target
        target_answers = list(Answer.objects.filter(contender=target))
        for number in range(50):
            voter = Voter.objects.create()
            answers_read_record(voter_id=voter.pk, answers=target_answers)
            known = {answer.pk for answer in target_answers}

            def choose(battle: Battle, known: set[int] = known) -> tuple[str, float]:
                seconds = _honest_seconds(self.rng, self.arena, battle, skimmer=False)
                sides = {"a": battle.answer_a_id, "b": battle.answer_b_id}
                for side, answer_id in sides.items():
                    other = "b" if side == "a" else "a"
                    if answer_id in known:
                        model = self.arena.answer_contender[answer_id]
                        verdict = side if model == target.pk else other
                        break
                else:
                    verdict = _honest_outcome(self.rng, self.arena, battle)
                known.update(sides.values())  # revealed after the vote
                return verdict, seconds

            self.session(
                cast,
                votes=40,
                ip_hash=f"d-{number}",
                start=self.rng.uniform(0, WEEK - 7200),
                choose=choose,
                voter=voter,
            )


def _timeline(cast: Cast, *, epoch: dt.datetime) -> None:
    """Give the votes and voters their simulated moments (the services stamped them in real time)."""
    _moments_set("battles_vote", "bigint", list(cast.moments.items()), epoch=epoch)
    _moments_set("battles_voter", "uuid", [(str(v), s) for v, s in cast.first_seen.items()], epoch=epoch)


def _moments_set(
    table: str, key_type: str, moments: list[tuple[object, float]], *, epoch: dt.datetime
) -> None:
    """created_at = epoch + seconds, for each (id, seconds)."""
    with connection.cursor() as cursor:
        for start in range(0, len(moments), 5000):
            batch = moments[start : start + 5000]
            values = ", ".join([f"(%s::{key_type}, %s::double precision)"] * len(batch))
            cursor.execute(
                f"UPDATE {table} t SET created_at = %s + make_interval(secs => d.s) "
                f"FROM (VALUES {values}) AS d(id, s) "
                "WHERE t.id = d.id",
                [epoch, *[value for pair in batch for value in pair]],
            )


def _board(arena: Arena, *, counted_only: bool, rounds: int = 0):
    votes = Vote.objects.all()
    if counted_only:
        votes = votes.filter(excluded_reasons="")
    rows = list(votes.values_list("contender_a_id", "contender_b_id", "outcome"))
    codes = {"a": 0, "b": 1, "tie": 2, "both_bad": 3}
    counts = algorithms.PairCounts.from_votes(
        np.array([arena.index_of[a] for a, _, _ in rows]),
        np.array([arena.index_of[b] for _, b, _ in rows]),
        np.array([codes[o] for _, _, o in rows]),
        CONTENDERS,
    )
    return algorithms.ratings_compute(counts, bootstrap_rounds=rounds, seed=1)


def _sweep_as_scheduled() -> None:
    """Two sweeps with a board refresh before each, as the schedule runs them."""
    for _ in range(2):
        ratings_recount_request()
        ratings_refresh_locked()
        integrity_sweep()


def _by_reasons(votes) -> dict[str, int]:
    found: dict[str, int] = {}
    for reasons in votes.exclude(excluded_reasons="").values_list("excluded_reasons", flat=True):
        found[reasons] = found.get(reasons, 0) + 1
    return found


def _reset_scores() -> None:
    Vote.objects.update(excluded_reasons="", excluded_at=None, signals="", suspicion=0.0, restored_at=None)


def _forget(cast: Cast) -> None:
    """Take an attack's votes and voters away again (the honest votes stay)."""
    Vote.objects.filter(voter_id__in=cast.voters).delete()
    Battle.objects.filter(voter_id__in=cast.voters).update(status=Battle.Status.RETIRED)


def test_bench_attacks_on_the_board(settings):
    for name, value in LIMITS.items():
        setattr(settings, name, value)
    settings.ARENA_BOOTSTRAP_ROUNDS = 100  # the refreshes between sweeps; the figures use 1,000
    rng = random.Random(14)
    started = time.monotonic()
    arena = _arena(rng)
    simulation = Simulation(arena, rng)
    epoch = timezone.now() - dt.timedelta(seconds=WEEK + 3600)

    honest = Cast()
    with override_settings(**DEFENCES_ON):
        simulation.honest(honest, voters=HONEST_VOTERS)
    _timeline(honest, epoch=epoch)
    honest_board = _board(arena, counted_only=False, rounds=1000)
    target = TARGET_INDEX
    half_width = (honest_board.bootstrap_high[target] - honest_board.bootstrap_low[target]) / 2
    honest_rating = honest_board.ratings[target]
    honest_count = len(honest.moments)
    print(
        f"\nhonest: {len(honest.voters)} voters, {honest_count} votes ({honest.refused} refused), target "
        f"{arena.target.name} true {STRENGTHS[target]:.0f}, fitted {honest_rating:.1f} ± {half_width:.1f}, "
        f"{time.monotonic() - started:.0f} s"
    )
    # The sweep over the honest votes alone: what it costs them with no attack at all.
    with override_settings(**DEFENCES_ON):
        _sweep_as_scheduled()
    alone = Vote.objects.filter(voter_id__in=honest.voters).exclude(excluded_reasons="").count()
    print(f"honest alone: {alone} of {honest_count} left out by the sweep")
    _reset_scores()

    attacks = {
        "a": simulation.attack_a,
        "b": simulation.attack_b,
        "c": simulation.attack_c,
        "c_slow": simulation.attack_c_slow,
        "d": simulation.attack_d,
    }
    honest_lost = []
    for code, attack in attacks.items():
        shifts = {}
        for defended in (False, True):
            cast = Cast()
            with override_settings(**(DEFENCES_ON if defended else DEFENCES_OFF)):
                attack(cast)
                _timeline(cast, epoch=epoch)
                if defended:
                    _sweep_as_scheduled()
            board = _board(arena, counted_only=defended)
            shifts[defended] = (board.ratings[target] - honest_rating) / half_width
            attack_votes = len(cast.moments)
            left_out_attack = (
                Vote.objects.filter(voter_id__in=cast.voters).exclude(excluded_reasons="").count()
                if defended
                else 0
            )
            if defended:
                lost_votes = Vote.objects.filter(voter_id__in=honest.voters).exclude(excluded_reasons="")
                lost = lost_votes.count()
                honest_lost.append((lost + honest.refused) / (honest_count + honest.refused))
                print(f"  honest votes left out, by reasons: {_by_reasons(lost_votes)}")
                attack_lost = _by_reasons(Vote.objects.filter(voter_id__in=cast.voters))
                print(f"  attack votes left out, by reasons: {attack_lost}")
            print(
                f"attack {code}, defences {'on' if defended else 'off'}: {attack_votes} attack votes cast "
                f"({cast.refused} refused, {left_out_attack} left out), target "
                f"{board.ratings[target]:.1f}, shift {shifts[defended]:+.2f} half-widths, "
                f"{time.monotonic() - started:.0f} s"
            )
            _forget(cast)
            _reset_scores()
        report(f"attack_{code}_shift_undefended_halfwidths", abs(shifts[False]), "halfwidths")
        report(f"attack_{code}_shift_defended_halfwidths", abs(shifts[True]), "halfwidths")
    report("integrity_honest_excluded_percent", 100 * max(honest_lost), "%")  # the worst attack
    print(f"honest excluded per attack: {[f'{100 * share:.2f}%' for share in honest_lost]}")

    # The sweep's cost at this size (honest votes only now), median of three.
    timings = []
    for _ in range(3):
        begun = time.perf_counter()
        integrity_sweep()
        timings.append(time.perf_counter() - begun)
    report("integrity_sweep_seconds", statistics.median(timings), "s")
    print(f"{Vote.objects.count()} votes scored per sweep; {time.monotonic() - started:.0f} s in all")


@pytest.mark.parametrize("votes", [50_000, 200_000])
def test_bench_integrity_sweep_at_scale(votes):
    """The sweep over a window of `votes` votes: 20 contenders, voters casting 10 each on average,
    an address for every three voters (seeded in the database, outside the vote service)."""
    from battles.management.seeding import arena_seed
    from ratings.services.counters import pair_counts_rebuild

    arena_seed(contenders=20, questions=2000, voters=votes // 10, voted_battles=votes)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE battles_vote SET ip_hash = 'seed-' || (abs(hashtext(voter_id::text)) %% %s)",
            [votes // 30],
        )
    pair_counts_rebuild()
    timings = []
    for _ in range(3):
        begun = time.perf_counter()
        result = integrity_sweep()
        timings.append(time.perf_counter() - begun)
    print(
        f"\n{result.votes_scored} votes scored, {result.votes_flagged} flagged, "
        f"{result.votes_excluded} left out; sweeps {', '.join(f'{t:.2f}' for t in timings)} s"
    )
    report(f"integrity_sweep_{votes // 1000}k_seconds", statistics.median(timings), "s")
