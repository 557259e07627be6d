"""Each integrity signal on small vote sets built by hand: what it flags, and what it leaves alone."""

import math

import numpy as np
import pytest

from battles import integrity
from battles.integrity import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE, VoteSet
from battles.services.exclusions import SIGNAL_REASONS


def _votes(rows: list[dict], *, ratings: dict[int, float] | None = None, first_seen=None) -> VoteSet:
    """Votes from dicts with voter, a, b, outcome and optional address, at, ms, chars, question."""
    voters = max(row["voter"] for row in rows) + 1
    return VoteSet(
        voter=np.array([row["voter"] for row in rows], dtype=np.int64),
        address=np.array([row.get("address", -1) for row in rows], dtype=np.int64),
        contender_a=np.array([row["a"] for row in rows], dtype=np.int64),
        contender_b=np.array([row["b"] for row in rows], dtype=np.int64),
        outcome=np.array([row["outcome"] for row in rows], dtype=np.int64),
        cast_at=np.array([row.get("at", 1000.0 * i) for i, row in enumerate(rows)], dtype=np.float64),
        decision_ms=np.array([row.get("ms", 30_000.0) for row in rows], dtype=np.float64),
        chars=np.array([row.get("chars", 1000.0) for row in rows], dtype=np.float64),
        question=np.array([row.get("question", i + 1) for i, row in enumerate(rows)], dtype=np.int64),
        voter_first_seen=np.zeros(voters) if first_seen is None else np.array(first_seen, dtype=np.float64),
        ratings=ratings or {},
    )


def test_every_signal_has_a_reason_staff_can_read_and_a_weight():
    assert set(integrity.SIGNALS) == set(SIGNAL_REASONS) == set(integrity.signal_functions(p_value=0.01))
    # The weaker signals never exclude alone, nor together with each other.
    assert integrity.WEIGHTS["burst"] + integrity.WEIGHTS["fresh_crowd"] < 1.0
    assert integrity.WEIGHTS["fast"] < 1.0 <= integrity.WEIGHTS["fast"] + integrity.WEIGHTS["fast_voter"]


def test_fast_compares_the_time_to_decide_with_the_answers_length():
    # 1,000 characters: the floor is 1,500 + 3 × 1,000 = 4,500 ms.
    votes = _votes(
        [
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 4_499, "chars": 1000},
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 4_500, "chars": 1000},
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 1_600, "chars": 20},
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": math.nan, "chars": 1000},
        ]
    )
    assert integrity.fast(votes).tolist() == [True, False, False, False]


def test_fast_voter_needs_half_of_at_least_three_timed_votes():
    rows = [{"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 900}] * 2 + [
        {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 60_000}
    ] * 2
    rows += [{"voter": 1, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 900}] * 2  # two votes only
    rows += [{"voter": 2, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 900}] + [
        {"voter": 2, "a": 1, "b": 2, "outcome": OUTCOME_A, "ms": 60_000}
    ] * 3
    assert integrity.fast_voter(_votes(rows)).tolist() == [True] * 4 + [False] * 2 + [False] * 4


def test_vote_p_values_follow_the_board():
    # 1 is rated 400 above 2: it wins with probability 10/11.
    votes = _votes(
        [
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_B},
            {"voter": 0, "a": 2, "b": 1, "outcome": OUTCOME_A},
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A},
            {"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_TIE},
        ],
        ratings={1: 1400.0, 2: 1000.0},
    )
    assert integrity.vote_p_values(votes) == pytest.approx([1 / 11, 1 / 11, 1.0, 1.0])


def test_outlier_flags_a_voter_who_keeps_picking_the_upset():
    ratings = {1: 1400.0, 2: 1000.0}
    upsets = [{"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_B}] * 8
    # Fisher: -2 · 8 · ln(1/11) = 38.4 on 16 degrees of freedom: p = 0.00134 (scipy.stats.chi2.sf).
    statistic = -2 * 8 * math.log(1 / 11)
    p = integrity._chi_square_even_survival(statistic, 8)
    assert p == pytest.approx(0.0013414877, rel=1e-6)
    honest = [{"voter": 1, "a": 1, "b": 2, "outcome": OUTCOME_A}] * 7 + [
        {"voter": 1, "a": 1, "b": 2, "outcome": OUTCOME_B}
    ]
    votes = _votes(upsets + honest, ratings=ratings)
    assert integrity.outlier(votes, p_value=0.01).tolist() == [True] * 8 + [False] * 8
    assert not integrity.outlier(votes, p_value=0.001).any()


def test_chi_square_survival_matches_known_values():
    assert integrity._chi_square_even_survival(0.0, 3) == 1.0
    assert integrity._chi_square_even_survival(2.0, 1) == pytest.approx(math.exp(-1))
    assert integrity._chi_square_even_survival(10.0, 2) == pytest.approx(math.exp(-5) * 6)


def test_poisson_binomial_and_poisson_tails_are_exact():
    assert integrity.poisson_binomial_tail(np.array([0.5, 0.5, 0.5]), 3) == pytest.approx(0.125)
    assert integrity.poisson_binomial_tail(np.array([0.2, 0.5]), 1) == pytest.approx(1 - 0.8 * 0.5)
    assert integrity.poisson_binomial_tail(np.array([0.2, 0.5]), 0) == 1.0
    assert integrity.poisson_tail(2.0, 1) == pytest.approx(1 - math.exp(-2))
    assert integrity.poisson_tail(2.0, 3) == pytest.approx(1 - math.exp(-2) * (1 + 2 + 2))
    assert integrity.poisson_tail(0.1, 40) == pytest.approx(
        math.exp(-0.1) * 0.1**40 / math.factorial(40), rel=1e-6
    )


def test_one_sided_flags_a_voter_always_for_one_contender_on_either_side():
    # Three equal contenders; half the votes decisive overall would make each vote for 1 a ½ · ½
    # chance. Voter 0: 8 battles with contender 1, all for it, on side A and on side B.
    rows = [{"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A}] * 4
    rows += [{"voter": 0, "a": 3, "b": 1, "outcome": OUTCOME_B}] * 4
    # Voter 1: 8 battles, ties and a split: never one-sided; brings the decisive share to 12/16.
    rows += [{"voter": 1, "a": 1, "b": 2, "outcome": OUTCOME_TIE}] * 4
    rows += [{"voter": 1, "a": 1, "b": 2, "outcome": o} for o in (OUTCOME_A, OUTCOME_B, OUTCOME_A, OUTCOME_B)]
    votes = _votes(rows)
    tests = {(t.group, t.contender, t.towards): t.p_value for t in integrity._sided_tests(votes, votes.voter)}
    # Voter 0 on contender 1: 8 of 8 for it, each with chance 12/16 · ½ = 3/8.
    assert tests[(0, 1, True)] == pytest.approx((3 / 8) ** 8)
    flags = integrity.one_sided(votes, p_value=1e-3, crowd=False)
    assert flags.tolist() == [True] * 8 + [False] * 8
    assert not integrity.one_sided(votes, p_value=1e-4, crowd=False).any()


def test_one_sided_against_a_contender_is_flagged_too():
    rows = [{"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_B}] * 10
    flags = integrity.one_sided(_votes(rows, ratings={1: 1200.0, 2: 1000.0}), p_value=1e-4, crowd=False)
    assert flags.all()


def test_a_crowd_each_a_little_one_sided_is_flagged_together():
    # 20 voters with 7 battles each with contender 1, all for it: with 380 of 440 votes decisive,
    # each is (380/440 · ½)^7 = 0.0027 likely, under the crowd's 0.01 but far from 1e-4 alone; 20
    # such voters among 80 tested, where chance gives 0.8, are a crowd.
    rows = []
    for voter in range(20):
        rows += [{"voter": voter, "a": 1, "b": 2 + voter % 5, "outcome": OUTCOME_A}] * 7
    # 60 honest voters with 5 battles each with contender 1, split.
    for voter in range(20, 80):
        rows += [{"voter": voter, "a": 1, "b": 2, "outcome": o} for o in (0, 1, 0, 1, 2)]
    votes = _votes(rows)
    alone = integrity.one_sided(votes, p_value=1e-4, crowd=False)
    together = integrity.one_sided(votes, p_value=1e-4, crowd=True)
    assert not alone.any()
    assert together[: 20 * 7].all() and not together[20 * 7 :].any()


def test_one_sided_address_pools_the_cookies_behind_one_address():
    # 10 voters with 2 votes each from address 5, all for contender 1: alone none reaches 5 votes.
    rows = []
    for voter in range(10):
        rows += [{"voter": voter, "address": 5, "a": 1, "b": 2, "outcome": OUTCOME_A}] * 2
    rows += [{"voter": 10, "address": -1, "a": 1, "b": 2, "outcome": OUTCOME_A}] * 3
    votes = _votes(rows)
    assert not integrity.one_sided(votes, p_value=1e-4).any()
    assert integrity.one_sided_address(votes, p_value=1e-4).tolist() == [True] * 20 + [False] * 3


def test_burst_flags_the_votes_inside_a_crowded_window():
    rows = [{"voter": 0, "address": 1, "a": 1, "b": 2, "outcome": 0, "at": 10.0 * i} for i in range(41)]
    rows += [{"voter": 1, "address": 2, "a": 1, "b": 2, "outcome": 0, "at": 15.0 * i} for i in range(41)]
    flags = integrity.burst(_votes(rows))
    # Address 1: 41 votes in 400 s; address 2: 41 votes in exactly 600 s. Both more than 40.
    assert flags[:41].all() and flags[41:].all()
    rows = [{"voter": 0, "address": 1, "a": 1, "b": 2, "outcome": 0, "at": 16.0 * i} for i in range(60)]
    assert not integrity.burst(_votes(rows)).any()  # 38 at most in any 600 s


def test_fresh_crowd_flags_voters_first_seen_together_at_one_address():
    rows = [{"voter": v, "address": 1, "a": 1, "b": 2, "outcome": 0} for v in range(10)]
    rows += [{"voter": v, "address": 2, "a": 1, "b": 2, "outcome": 0} for v in range(10, 20)]
    first_seen = [60.0 * v for v in range(10)] + [500.0 * v for v in range(10)]
    flags = integrity.fresh_crowd(_votes(rows, first_seen=first_seen))
    # Address 1: ten voters within 10 minutes. Address 2: ten over 75 minutes, at most 8 in an hour.
    assert flags.tolist() == [True] * 10 + [False] * 10


def test_lockstep_flags_voters_matching_verdicts_and_timing():
    rows = []
    for i in range(3):  # voters 0 and 1: the same question, pair and winner, 30 s apart, 3 times
        rows.append({"voter": 0, "a": 1, "b": 2, "outcome": OUTCOME_A, "question": i + 1, "at": 1000.0 * i})
        rows.append(
            {"voter": 1, "a": 2, "b": 1, "outcome": OUTCOME_B, "question": i + 1, "at": 1000.0 * i + 30}
        )
    for i in range(3):  # voters 2 and 3: the same, but 10 minutes apart
        rows.append({"voter": 2, "a": 1, "b": 2, "outcome": OUTCOME_A, "question": 10 + i, "at": 1000.0 * i})
        rows.append(
            {"voter": 3, "a": 1, "b": 2, "outcome": OUTCOME_A, "question": 10 + i, "at": 1000.0 * i + 600}
        )
    for i in range(3):  # voters 6 and 7: in step, but on votes whose question is not known
        rows.append({"voter": 6, "a": 1, "b": 2, "outcome": OUTCOME_A, "question": 0, "at": 5000.0 + i})
        rows.append({"voter": 7, "a": 1, "b": 2, "outcome": OUTCOME_A, "question": 0, "at": 5000.0 + i})
    for i in range(2):  # voters 4 and 5: in step, but only twice
        rows.append(
            {"voter": 4, "a": 1, "b": 2, "outcome": OUTCOME_BOTH_BAD, "question": 20 + i, "at": 10.0 * i}
        )
        rows.append(
            {"voter": 5, "a": 1, "b": 2, "outcome": OUTCOME_BOTH_BAD, "question": 20 + i, "at": 10.0 * i}
        )
    flags = integrity.lockstep(_votes(rows))
    assert flags.tolist() == [True] * 6 + [False] * 6 + [False] * 6 + [False] * 4


def test_no_votes_no_flags():
    empty = VoteSet(
        *(np.array([], dtype=np.int64) for _ in range(5)),
        cast_at=np.array([]),
        decision_ms=np.array([]),
        chars=np.array([]),
        question=np.array([], dtype=np.int64),
        voter_first_seen=np.array([]),
        ratings={},
    )
    for signal in integrity.signal_functions(p_value=1e-4).values():
        assert signal(empty).shape == (0,)
