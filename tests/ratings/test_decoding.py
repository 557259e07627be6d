"""The sample bootstrap beside the vote bootstrap: the multiplicities and the weights they give votes,
refits checked against the fit of the same (integer) data, contenders with nothing to redraw, samples
that behave alike against samples that do not, and determinism."""

import collections

import numpy as np
import pytest

from ratings.algorithms import (
    OUTCOME_A,
    OUTCOME_B,
    PairCounts,
    SampledVotes,
    bradley_terry,
    decoding_variance,
)
from ratings.decoding import sample_resamples


def sampled_votes(rows, n):
    """rows: (side_a, side_b, outcome, answer_a, answer_b); an answer "g/x" belongs to group "g"."""
    side_a, side_b, outcome, answer_a, answer_b = (list(column) for column in zip(*rows, strict=True))
    return SampledVotes(
        side_a=np.array(side_a),
        side_b=np.array(side_b),
        outcome=np.array(outcome),
        answer_a=np.array(answer_a),
        answer_b=np.array(answer_b),
        group_a=np.array([answer.split("/")[0] for answer in answer_a]),
        group_b=np.array([answer.split("/")[0] for answer in answer_b]),
        contender_count=n,
    )


def two_samples(first_wins, second_wins, votes_each=4):
    """Contender 0 keeps two answers to question q ("q0/a", "q0/b"); 1 and 2 one answer each. Each of
    0's answers meets 1 and 2 `votes_each` times and wins `first_wins` / `second_wins` of them. 1 and 2
    split 4 votes."""
    rows = []
    for answer, wins in (("q0/a", first_wins), ("q0/b", second_wins)):
        for opponent in (1, 2):
            for vote in range(votes_each):
                outcome = OUTCOME_A if vote < wins else OUTCOME_B
                rows.append((0, opponent, outcome, answer, f"q{opponent}/x"))
    rows += [(1, 2, OUTCOME_A, "q1/x", "q2/x")] * 2 + [(1, 2, OUTCOME_B, "q1/x", "q2/x")] * 2
    return sampled_votes(rows, 3)


def test_multiplicities_sum_to_each_group_size_and_weigh_votes_by_their_product():
    # Two groups of two answers, on opposite sides: a vote weighs mult[answer_a] * mult[answer_b].
    rows = [
        (0, 1, OUTCOME_A, "g0/a", "g1/a"),
        (0, 1, OUTCOME_B, "g0/a", "g1/b"),
        (1, 0, OUTCOME_A, "g1/b", "g0/b"),
        (0, 1, OUTCOME_A, "g0/b", "g1/b"),
    ]
    votes = sampled_votes(rows, 2)
    drawn = sample_resamples(votes, rounds=40, seed=7)
    assert drawn.answers.tolist() == ["g0/a", "g0/b", "g1/a", "g1/b"]
    multiplicity = drawn.multiplicities
    assert multiplicity.shape == (40, 4)
    assert (multiplicity[:, :2].sum(axis=1) == 2).all() and (multiplicity[:, 2:].sum(axis=1) == 2).all()
    assert set(multiplicity.ravel().tolist()) == {0, 1, 2}
    column = {answer: index for index, answer in enumerate(drawn.answers.tolist())}
    assert (drawn.first.tolist(), drawn.second.tolist()) == ([0], [1])
    for round_ in range(40):
        battles = scores = 0
        for side_a, _, outcome, answer_a, answer_b in rows:
            weight = multiplicity[round_, column[answer_a]] * multiplicity[round_, column[answer_b]]
            battles += weight
            scores += weight * ((outcome == OUTCOME_A) == (side_a == 0))  # contender 0's score
        assert drawn.battles[round_, 0] == battles
        assert drawn.scores[round_, 0] == scores
    again = sample_resamples(votes, rounds=40, seed=7)
    assert (again.multiplicities == multiplicity).all()
    assert not (sample_resamples(votes, rounds=40, seed=8).multiplicities == multiplicity).all()


def test_a_group_of_two_draws_both_once_half_the_time():
    # Multinomial(2; 1/2, 1/2): (2, 0), (1, 1), (0, 2) with probabilities 1/4, 1/2, 1/4.
    drawn = sample_resamples(two_samples(3, 1), rounds=4000, seed=1)
    pattern = collections.Counter(map(tuple, drawn.multiplicities[:, :2].tolist()))
    assert set(pattern) == {(2, 0), (1, 1), (0, 2)}
    assert pattern[(1, 1)] / 4000 == pytest.approx(0.5, abs=0.03)
    assert pattern[(2, 0)] / 4000 == pytest.approx(0.25, abs=0.03)
    assert (drawn.multiplicities[:, 2:] == 1).all()  # the one-answer groups


def test_each_round_is_the_fit_of_its_weighted_votes():
    # With one group of two, a round's data is one of three integer data sets: 0's answer "a" twice,
    # both once, or "b" twice. Each round's ratings are the fit of that data set.
    votes = two_samples(3, 1)
    fit = bradley_terry(votes.counts())
    result = decoding_variance(votes, fit, rounds=64, seed=5)
    drawn = sample_resamples(votes, rounds=64, seed=5)

    def refit(first_times, second_times):
        # Against each opponent, "a" wins 3 of 4 and "b" 1 of 4, each taken first_times / second_times.
        counts = np.zeros((3, 3, 4), dtype=np.int64)
        counts[0, 1:, OUTCOME_A] = 3 * first_times + 1 * second_times
        counts[0, 1:, OUTCOME_B] = 1 * first_times + 3 * second_times
        counts[1, 2, OUTCOME_A] = counts[1, 2, OUTCOME_B] = 2
        return bradley_terry(PairCounts(counts)).ratings

    expected = {pattern: refit(*pattern) for pattern in ((2, 0), (1, 1), (0, 2))}
    for round_, multiplicity in enumerate(drawn.multiplicities[:, :2].tolist()):
        assert result.sample_round_ratings[round_] == pytest.approx(expected[tuple(multiplicity)], abs=1e-6)


def test_one_sample_per_question_has_nothing_to_redraw():
    votes = two_samples(3, 1)
    result = decoding_variance(votes, bradley_terry(votes.counts()), rounds=50, seed=0)
    assert result.has_samples.tolist() == [True, False, False]
    for values in (result.sample_sd, result.sample_half_width, result.variance_ratio, result.share):
        assert np.isnan(values[1:]).all()
        assert np.isfinite(values[0])
    assert (result.vote_sd > 0).all()
    # Nobody with samples: no sample bootstrap at all.
    plain = sampled_votes([(0, 1, OUTCOME_A, "a/x", "b/x"), (1, 0, OUTCOME_A, "d/x", "c/x")], 2)
    plain_result = decoding_variance(plain, bradley_terry(plain.counts()), rounds=10, seed=0)
    assert not plain_result.has_samples.any()
    assert np.isnan(plain_result.share).all() and np.isnan(plain_result.null_ratio).all()


def test_samples_that_behave_alike_add_nothing():
    # Both of 0's answers win 2 of 4 against each opponent: however they are redrawn, the data are the same.
    votes = two_samples(2, 2)
    result = decoding_variance(votes, bradley_terry(votes.counts()), rounds=100, seed=3)
    assert result.sample_sd[0] == pytest.approx(0.0, abs=1e-6)
    assert result.share[0] == pytest.approx(0.0, abs=1e-12)
    assert result.vote_sd[0] > 10
    # Had the 16 votes been independent, redrawing answers would move the rating by 0.5 of the vote
    # variance (0's votes weigh Var = 2 - 1/2 - 1 = 1/2): the samples here vary less than chance.
    assert result.null_ratio[0] == pytest.approx(0.5, abs=0.01)
    assert result.excess_ratio[0] == pytest.approx(-result.null_ratio[0], abs=1e-6)


def test_samples_that_differ_strongly_carry_most_of_the_uncertainty():
    # 0's answer "a" always wins, "b" always loses: which one is drawn decides 0's rating.
    votes = two_samples(4, 0)
    result = decoding_variance(votes, bradley_terry(votes.counts()), rounds=200, seed=3)
    assert result.variance_ratio[0] > 1.5
    assert result.share[0] == 1.0
    assert result.excess_ratio[0] > 1.0
    assert result.sample_half_width[0] > result.vote_half_width[0]
    assert result.converged


def test_same_seed_same_numbers_and_bad_input_is_refused():
    votes = two_samples(3, 1)
    fit = bradley_terry(votes.counts())
    first = decoding_variance(votes, fit, rounds=30, seed=11)
    second = decoding_variance(votes, fit, rounds=30, seed=11)
    other = decoding_variance(votes, fit, rounds=30, seed=12)
    assert (first.sample_round_ratings == second.sample_round_ratings).all()
    assert (first.vote_round_ratings == second.vote_round_ratings).all()
    assert np.array_equal(first.share, second.share, equal_nan=True)
    assert not (first.sample_round_ratings == other.sample_round_ratings).all()
    with pytest.raises(ValueError, match="rounds"):
        decoding_variance(votes, fit, rounds=1)
    pair = np.array([0, 0]), np.array([1, 1]), np.array([OUTCOME_A, OUTCOME_B])
    two_groups = SampledVotes(
        *pair, np.array([1, 1]), np.array([2, 3]), np.array([10, 11]), np.array([12, 12]), 2
    )
    with pytest.raises(ValueError, match=r"answer .* more than one group"):
        decoding_variance(two_groups, fit, rounds=10)
    two_contenders = SampledVotes(
        np.array([0, 1]),
        np.array([1, 0]),
        *pair[2:],
        np.array([1, 2]),
        np.array([3, 4]),
        np.array([10, 10]),
        np.array([11, 12]),
        2,
    )
    with pytest.raises(ValueError, match=r"group .* more than one contender"):
        decoding_variance(two_contenders, fit, rounds=10)
    short = SampledVotes(*pair, np.array([1]), np.array([2, 3]), np.array([10, 11]), np.array([12, 12]), 2)
    with pytest.raises(ValueError, match="one entry per vote"):
        decoding_variance(short, fit, rounds=10)
