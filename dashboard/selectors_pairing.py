"""How the pool pairs contenders right now, for staff: the policy, its settings, the share of draws
each part of it takes, and the pairs it favours (battles/pairing.py)."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings

from battles import pairing
from battles.models import Origin, Question
from battles.services.pool import NoBattleCanBeDrawn, drawable_contenders, pairing_plan, pairing_settings


@dataclass
class PairingOverview:
    policy: str
    settings: list[tuple[str, Any]]
    # Why no battle can be drawn at all (then nothing below is filled in).
    problem: str = ""
    # The plan comes from a board; False: every draw is by weight (the "weighted" policy, or no board yet).
    from_board: bool = False
    shares: pairing.PolicyShares | None = None
    contenders: int = 0
    pairs: int = 0
    pairs_below_floor: int = 0
    questions: int = 0
    questions_below_floor: int | None = None
    top_pairs: list[dict[str, Any]] = field(default_factory=list)


def pairing_overview(*, shown: int = 10) -> PairingOverview:
    """The policy the pool draws by now, from the same plan it uses (a handful of queries, however
    many contenders and questions)."""
    config = pairing_settings()
    overview = PairingOverview(
        policy=config.policy,
        settings=[
            ("ARENA_PAIRING", config.policy),
            ("ARENA_PAIRING_EXPLORATION", config.exploration),
            ("ARENA_PAIRING_FLOOR_SHARE", config.floor_share),
            ("ARENA_PAIRING_PAIR_FLOOR", config.pair_floor),
            ("ARENA_PAIRING_QUESTION_FLOOR", config.question_floor),
            ("ARENA_SAMPLING_BOOST", settings.ARENA_SAMPLING_BOOST),
            ("ARENA_SAMPLING_BOOST_UNTIL_VOTES", settings.ARENA_SAMPLING_BOOST_UNTIL_VOTES),
        ],
    )
    try:
        contenders, weights = drawable_contenders()
    except NoBattleCanBeDrawn as problem:
        overview.problem = str(problem)
        return overview
    plan = pairing_plan(contenders=contenders, weights=weights)
    if plan is not None:
        distribution = plan.distribution
    else:  # by weight alone: the board is not read
        unknown = np.full(len(contenders), np.nan)
        distribution = pairing.pair_distribution(
            contender_ids=[contender.pk for contender in contenders],
            ratings=unknown,
            standard_errors=unknown,
            pair_votes=np.zeros((len(contenders), len(contenders)), dtype=np.int64),
            draw_weights=np.array([weights[contender.pk] for contender in contenders]),
            settings=pairing.PairingSettings(policy=pairing.POLICY_WEIGHTED),
        )
    names = {contender.pk: contender.name for contender in contenders}
    overview.from_board = plan is not None
    overview.shares = distribution.shares
    overview.contenders = len(contenders)
    overview.pairs = len(distribution.probabilities)
    if plan is not None:
        overview.pairs_below_floor = int((distribution.pair_votes < config.pair_floor).sum())
        questions = Question.objects.filter(is_active=True)
        if not settings.ARENA_SERVE_SEEDED:  # as the pool draws them
            questions = questions.exclude(origin=Origin.SEEDED)
        question_ids = list(questions.values_list("id", flat=True))
        overview.questions = len(question_ids)
        overview.questions_below_floor = len(plan.questions_below_floor(question_ids))
    overview.top_pairs = [
        {
            "a": names[first],
            "b": names[second],
            "percent": 100 * probability,
            "votes": votes if plan is not None else None,
            "below_floor": plan is not None and votes < config.pair_floor,
        }
        for first, second, probability, votes in distribution.top(shown)
    ]
    return overview
