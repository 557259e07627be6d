"""Signals that a vote was not cast in good faith: numpy arrays in, one flag per vote and signal out,
no Django, deterministic. battles/services/integrity.py reads the votes, runs these and leaves out
the votes whose score reaches the threshold.

Every signal is reason-coded and weighted; a vote's score is the sum of the weights of the signals
it carries. A weight of 1 or more excludes on its own; the weaker ones (a burst from an address,
many new voters at one address: a classroom does both) exclude only together with another.

- fast: decided sooner than anyone could read the two answers (FAST_BASE_MS + FAST_MS_PER_CHAR
  per character of both).
- fast_voter: most of the voter's votes are fast.
- outlier: the voter's recent decisive votes disagree with the board more than chance allows
  (Chatbot Arena's anomalous-user test: each vote's p-value under the board's win probabilities,
  combined with Fisher's method).
- one_sided: the voter's votes on battles with one contender go for it (or against it) more often
  than the board makes likely (an exact Poisson-binomial tail); or a crowd of voters each a little
  one-sided towards the same contender, far more of them than chance gives.
- one_sided_address: the same test over every vote from one IP hash (a ring of cookies behind few
  addresses).
- burst: more than BURST_VOTES votes from one IP hash within BURST_SECONDS.
- fresh_crowd: FRESH_VOTERS or more voters first seen at one IP hash within an hour.
- lockstep: two voters casting the same verdict on the same question and pair within
  LOCKSTEP_SECONDS of each other, at least LOCKSTEP_MATCHES times (votes whose question is not
  known, 0, are never matched).
"""

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Outcome codes, as the ratings use them (ratings/bradley_terry.py).
OUTCOME_A, OUTCOME_B, OUTCOME_TIE, OUTCOME_BOTH_BAD = 0, 1, 2, 3

FAST_BASE_MS = 1500.0
FAST_MS_PER_CHAR = 3.0  # about 330 characters a second: faster than anyone skims two answers
FAST_VOTER_SHARE = 0.5
FAST_VOTER_MIN_VOTES = 3
OUTLIER_RECENT_VOTES = 50
OUTLIER_MIN_VOTES = 5
ONE_SIDED_MIN_VOTES = 5
CROWD_P_VALUE = 0.01  # a voter this one-sided is one of a crowd when the crowd is unlikely
BURST_SECONDS = 600.0
BURST_VOTES = 40
FRESH_VOTERS = 10
FRESH_SECONDS = 3600.0
LOCKSTEP_SECONDS = 120.0
LOCKSTEP_MATCHES = 3

WEIGHTS = {
    "fast": 0.6,
    "fast_voter": 0.6,
    "outlier": 1.0,
    "one_sided": 1.0,
    "one_sided_address": 1.0,
    "burst": 0.4,
    "fresh_crowd": 0.4,
    "lockstep": 1.0,
}
SIGNALS = tuple(WEIGHTS)


@dataclass(frozen=True)
class VoteSet:
    """The votes scored together, one entry per vote (a vote without a voter or address has -1)."""

    voter: IntArray  # voter index
    address: IntArray  # IP hash index, -1 for none
    contender_a: IntArray  # contender ids
    contender_b: IntArray
    outcome: IntArray  # OUTCOME_*
    cast_at: FloatArray  # seconds (any epoch)
    decision_ms: FloatArray  # NaN when unknown
    chars: FloatArray  # characters of both answers
    question: IntArray  # 0: not known (a vote without its battle)
    voter_first_seen: FloatArray  # per voter index, seconds (same epoch)
    ratings: dict[int, float]  # the board's rating of each contender (Elo scale); others 1000

    def __len__(self) -> int:
        return len(self.voter)


def win_probability(rating: FloatArray, other: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + np.power(10.0, (other - rating) / 400.0))


def _ratings_of(votes: VoteSet, contenders: IntArray) -> FloatArray:
    """The board's rating of each of these contenders (1000 for one not on it)."""
    known = np.array(sorted(votes.ratings), dtype=np.int64)
    if not len(known):
        return np.full(len(contenders), 1000.0)
    ratings = np.array([votes.ratings[c] for c in known.tolist()], dtype=np.float64)
    at = np.clip(np.searchsorted(known, contenders), 0, len(known) - 1)
    return np.where(known[at] == contenders, ratings[at], 1000.0)


def fast(votes: VoteSet) -> BoolArray:
    floor = FAST_BASE_MS + FAST_MS_PER_CHAR * votes.chars
    known = ~np.isnan(votes.decision_ms)
    return known & (np.nan_to_num(votes.decision_ms, nan=np.inf) < floor)


def fast_voter(votes: VoteSet) -> BoolArray:
    flags = fast(votes)
    known = ~np.isnan(votes.decision_ms)
    voters = int(votes.voter.max()) + 1 if len(votes) else 0
    timed = np.bincount(votes.voter[known], minlength=voters)
    quick = np.bincount(votes.voter[flags], minlength=voters)
    with np.errstate(invalid="ignore", divide="ignore"):
        flagged = (timed >= FAST_VOTER_MIN_VOTES) & (quick >= FAST_VOTER_SHARE * timed)
    return flagged[votes.voter]


def _chi_square_even_survival(statistic: float, half_degrees: int) -> float:
    """P(X ≥ statistic) for X ~ chi-square with 2·half_degrees degrees of freedom (closed form)."""
    half = statistic / 2.0
    term = total = 1.0
    for k in range(1, half_degrees):
        term *= half / k
        total += term
        if term < 1e-300:
            break
    return min(1.0, math.exp(-half + math.log(total)))


def vote_p_values(votes: VoteSet) -> FloatArray:
    """Each decisive vote's p-value under the board: the probability of the verdict given when it is
    the less likely one, 1 otherwise (and 1 for ties and both-bad). Never below its true size."""
    rating_a = _ratings_of(votes, votes.contender_a)
    rating_b = _ratings_of(votes, votes.contender_b)
    a_wins = win_probability(rating_a, rating_b)
    chance = np.where(votes.outcome == OUTCOME_A, a_wins, 1.0 - a_wins)
    decisive = (votes.outcome == OUTCOME_A) | (votes.outcome == OUTCOME_B)
    return np.where(decisive & (chance < 0.5), chance, 1.0)


def outlier(votes: VoteSet, *, p_value: float) -> BoolArray:
    """Fisher's combination of the p-values of each voter's OUTLIER_RECENT_VOTES latest decisive
    votes; all the voter's votes are flagged when it falls under `p_value`."""
    p = vote_p_values(votes)
    decisive = (votes.outcome == OUTCOME_A) | (votes.outcome == OUTCOME_B)
    flagged_voters = set()
    order = np.lexsort((-votes.cast_at, votes.voter))
    for voter, rows in _groups(votes.voter[order], order):
        recent = rows[decisive[rows]][:OUTLIER_RECENT_VOTES]
        if len(recent) < OUTLIER_MIN_VOTES:
            continue
        statistic = float(-2.0 * np.log(p[recent]).sum())
        if _chi_square_even_survival(statistic, len(recent)) < p_value:
            flagged_voters.add(voter)
    return np.isin(votes.voter, list(flagged_voters))


def _groups(keys: IntArray, rows: IntArray) -> list[tuple[int, IntArray]]:
    """(key, rows) for each run of equal keys (keys sorted)."""
    if not len(keys):
        return []
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    return [(int(keys[s]), rows[s:e]) for s, e in zip(starts, ends, strict=True)]


def poisson_binomial_tail(chances: FloatArray, at_least: int) -> float:
    """P(at least `at_least` successes) among independent trials with these chances (exact)."""
    if at_least <= 0:
        return 1.0
    distribution = np.zeros(len(chances) + 1)
    distribution[0] = 1.0
    for chance in chances:
        distribution[1:] = distribution[1:] * (1.0 - chance) + distribution[:-1] * chance
        distribution[0] *= 1.0 - chance
    return float(min(1.0, distribution[at_least:].sum()))


@dataclass(frozen=True)
class _SidedTest:
    group: int  # voter or address index
    contender: int
    towards: bool  # for the contender (True) or against it
    p_value: float
    rows: IntArray


def _sided_tests(votes: VoteSet, groups: IntArray) -> list[_SidedTest]:
    """For each group (voter or address) and contender in ONE_SIDED_MIN_VOTES or more of its votes:
    how unlikely, under the board, so many of those votes went for it, and so many against it. A tie
    or both-bad is neither, and a decisive verdict is expected as often as in all these votes."""
    decisive = (votes.outcome == OUTCOME_A) | (votes.outcome == OUTCOME_B)
    decisive_share = float(decisive.mean())
    rows = np.flatnonzero(groups >= 0)
    # Each vote seen from both of its contenders: (group, contender, opponent, for it, against it).
    row = np.r_[rows, rows]
    contender = np.r_[votes.contender_a[rows], votes.contender_b[rows]]
    opponent = np.r_[votes.contender_b[rows], votes.contender_a[rows]]
    towards = np.r_[votes.outcome[rows] == OUTCOME_A, votes.outcome[rows] == OUTCOME_B]
    against = np.r_[votes.outcome[rows] == OUTCOME_B, votes.outcome[rows] == OUTCOME_A]
    wins = win_probability(_ratings_of(votes, contender), _ratings_of(votes, opponent))
    span = int(max(votes.contender_a.max(), votes.contender_b.max())) + 1
    keys = groups[row] * span + contender
    order = np.argsort(keys, kind="stable")
    tests = []
    for key, members in _groups(keys[order], order):
        if len(members) < ONE_SIDED_MIN_VOTES:
            continue
        for direction, went, chances in (
            (True, towards[members], decisive_share * wins[members]),
            (False, against[members], decisive_share * (1.0 - wins[members])),
        ):
            count = int(went.sum())
            # At most half one way is never one-sided; nor is a count at or under the expected one
            # (a Poisson-binomial's median is its mean rounded down or up: the tail is at least ½).
            if 2 * count <= len(members) or count <= math.floor(chances.sum()):
                continue
            tests.append(
                _SidedTest(
                    key // span, key % span, direction, poisson_binomial_tail(chances, count), row[members]
                )
            )
    return tests


def one_sided(
    votes: VoteSet, *, p_value: float, groups: IntArray | None = None, crowd: bool = True
) -> BoolArray:
    """The votes on battles with a contender, of a voter (or of an address, with `groups`) whose
    votes go for or against that contender beyond `p_value`; with `crowd`, also those of every voter
    under CROWD_P_VALUE when there are so many such voters for one contender and direction that
    chance would give that many with probability under `p_value`."""
    groups = votes.voter if groups is None else groups
    flags = np.zeros(len(votes), dtype=bool)
    if not len(votes):
        return flags
    tests = _sided_tests(votes, groups)
    for test in tests:
        if test.p_value < p_value:
            flags[test.rows] = True
    if crowd:
        tested: dict[tuple[int, bool], list[_SidedTest]] = defaultdict(list)
        for test in tests:
            tested[(test.contender, test.towards)].append(test)
        for found in tested.values():
            suspects = [test for test in found if test.p_value < CROWD_P_VALUE]
            # Under the board, each test falls under CROWD_P_VALUE with probability at most that:
            # a crowd of suspects is measured against a Poisson count with that mean.
            expected = CROWD_P_VALUE * len(found)
            if len(suspects) >= 2 and poisson_tail(expected, len(suspects)) < p_value:
                for test in suspects:
                    flags[test.rows] = True
    return flags


def poisson_tail(mean: float, at_least: int) -> float:
    """P(X ≥ at_least) for X ~ Poisson(mean), summed upwards (no digits lost far in the tail)."""
    if at_least <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(-mean + at_least * math.log(mean) - math.lgamma(at_least + 1))
    total = 0.0
    k = at_least
    while term > 1e-300 and k < at_least + 100_000:
        total += term
        k += 1
        term *= mean / k
        if k > mean and term < total * 1e-17:
            break
    return min(1.0, total)


def one_sided_address(votes: VoteSet, *, p_value: float) -> BoolArray:
    return one_sided(votes, p_value=p_value, groups=votes.address, crowd=False)


def burst(votes: VoteSet) -> BoolArray:
    """Votes inside any BURST_SECONDS in which one address cast more than BURST_VOTES votes."""
    flags = np.zeros(len(votes), dtype=bool)
    order = np.lexsort((votes.cast_at, votes.address))
    for address, rows in _groups(votes.address[order], order):
        if address < 0 or len(rows) <= BURST_VOTES:
            continue
        times = votes.cast_at[rows]
        ends = np.searchsorted(times, times + BURST_SECONDS, side="right")
        for start in np.flatnonzero(ends - np.arange(len(rows)) > BURST_VOTES):
            flags[rows[start : ends[start]]] = True
    return flags


def fresh_crowd(votes: VoteSet) -> BoolArray:
    """Votes from an address of the voters first seen there when FRESH_VOTERS or more voters voting
    from it were first seen within FRESH_SECONDS."""
    flags = np.zeros(len(votes), dtype=bool)
    order = np.lexsort((votes.voter, votes.address))
    for address, rows in _groups(votes.address[order], order):
        if address < 0:
            continue
        voters = np.unique(votes.voter[rows])
        if len(voters) < FRESH_VOTERS:
            continue
        first_seen = np.sort(votes.voter_first_seen[voters])
        ends = np.searchsorted(first_seen, first_seen + FRESH_SECONDS, side="right")
        crowded = ends - np.arange(len(first_seen)) >= FRESH_VOTERS
        if not crowded.any():
            continue
        in_crowd = np.zeros(len(first_seen), dtype=bool)
        for start in np.flatnonzero(crowded):
            in_crowd[start : ends[start]] = True
        crowd_times = set(first_seen[in_crowd].tolist())
        crowd = [v for v in voters if votes.voter_first_seen[v] in crowd_times]
        flags[rows[np.isin(votes.voter[rows], crowd)]] = True
    return flags


def _verdict_key(votes: VoteSet) -> IntArray:
    """The verdict whatever the sides: the winner's id, or -1 for a tie, -2 for both bad."""
    return np.select(
        [votes.outcome == OUTCOME_A, votes.outcome == OUTCOME_B, votes.outcome == OUTCOME_TIE],
        [votes.contender_a, votes.contender_b, -1],
        default=-2,
    )


def lockstep(votes: VoteSet) -> BoolArray:
    """Votes that match another voter's (same question, same pair, same verdict, within
    LOCKSTEP_SECONDS) when the two voters match at least LOCKSTEP_MATCHES times."""
    flags = np.zeros(len(votes), dtype=bool)
    if not len(votes):
        return flags
    low = np.minimum(votes.contender_a, votes.contender_b)
    high = np.maximum(votes.contender_a, votes.contender_b)
    verdict = _verdict_key(votes)
    order = np.lexsort((votes.cast_at, verdict, high, low, votes.question))
    keys = np.stack([votes.question, low, high, verdict], axis=1)[order]
    # Votes without a known question (0) are never matched: nothing says they were the same battle.
    same = np.r_[False, (keys[1:] == keys[:-1]).all(axis=1) & (keys[1:, 0] > 0)]
    matches: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    run_start = 0
    for position in range(len(order)):
        if not same[position]:
            run_start = position
            continue
        row = order[position]
        for earlier_position in range(position - 1, run_start - 1, -1):
            earlier = order[earlier_position]
            if votes.cast_at[row] - votes.cast_at[earlier] > LOCKSTEP_SECONDS:
                break
            first, second = int(votes.voter[earlier]), int(votes.voter[row])
            if first != second:
                pair = (min(first, second), max(first, second))
                matches[pair].append((int(earlier), int(row)))
    for found in matches.values():
        if len(found) >= LOCKSTEP_MATCHES:
            for earlier, row in found:
                flags[earlier] = flags[row] = True
    return flags


def signal_functions(*, p_value: float) -> dict[str, Callable[[VoteSet], BoolArray]]:
    """Each signal's function, by code (the order of SIGNALS)."""
    return {
        "fast": fast,
        "fast_voter": fast_voter,
        "outlier": lambda votes: outlier(votes, p_value=p_value),
        "one_sided": lambda votes: one_sided(votes, p_value=p_value),
        "one_sided_address": lambda votes: one_sided_address(votes, p_value=p_value),
        "burst": burst,
        "fresh_crowd": fresh_crowd,
        "lockstep": lockstep,
    }
