"""Style control: the style features of answers, the per-vote covariates, and the style-controlled
Bradley-Terry fit with its sandwich intervals, checked against independent one-row-per-vote
computations (scipy's BFGS for the fit, explicit matrices and finite differences for the covariance)."""

import math

import numpy as np
import pytest
from scipy import optimize

from ratings import algorithms
from ratings.algorithms import OUTCOME_A, OUTCOME_B, OUTCOME_BOTH_BAD, OUTCOME_TIE, PairCounts
from ratings.style import style_bradley_terry
from ratings.style_features import STYLE_FEATURE_NAMES, StyleFeatures, answer_style_features, style_covariates

SCALE = 400 / math.log(10)

# --- features ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("Hello, world!", 4),  # Hello , world !
        ("你好，世界。", 6),  # one per character, the full-width punctuation included
        ("GPT-4o 的回答很好。", 9),  # GPT - 4o, five characters, 。
        ("x = f(a_b) ...", 7),  # x = f ( a_b ) ...
        ("日本語のテキスト", 8),  # kanji, hiragana and katakana: one each
        ("안녕하세요", 5),  # Hangul syllables
        ("👍👍 ok", 2),  # a run of symbols, a word
        ("", 0),
        ("  \n\t ", 0),
    ],
)
def test_length_counts_cjk_characters_words_and_symbol_runs(text, length):
    assert answer_style_features(text).length == length


ENGLISH = """# Title
Intro with **bold** and __strong__ words, **two** on a line; snake__case__name and `__init__` are not.
## Section
1. one
2) two
10. ten
- dash
  - nested dash
* star
+ plus
-not an item
1.5 is a number
***
- - -
* * *
#hashtag is not a header
####### seven is not a header
   ### three spaces still a header
    #### four spaces is not
#
**unclosed bold
"""

FENCED = """Before the code
```python
# a comment, not a header
- not an item
**not bold**
```
## After the fence
~~~
- inside a tilde fence
```
- still inside: a backtick line does not close a tilde fence
~~~
- after the tilde fence
````markdown
```
# inside: three backticks do not close four
````
- last item with **bold**
```js
const unclosed = "runs to the end";
# not a header
"""

CHINESE = """## 概述
这是**重点**内容，还有__强调__。
1. 第一步
2. 第二步
- 要点
* 另一个要点
```
# 代码里的注释
- 代码
```
"""


@pytest.mark.parametrize(
    ("text", "headers", "lists", "bold"),
    [
        (ENGLISH, 4, 7, 3),
        (FENCED, 1, 2, 1),
        # The Chinese __强调__ sits inside a word (between Han characters): not bold, as in CommonMark.
        (CHINESE, 1, 4, 1),
        ("Use ```inline``` here\n# Header after an inline run of backticks", 1, 0, 0),
        ("# Windows line ends\r\n- item\r\n**bold**\r\n", 1, 1, 1),
        ("**a __b** c__ d", 0, 0, 2),  # the two kinds are counted apart and added, as LMArena does
        ("plain text", 0, 0, 0),
    ],
)
def test_markdown_counts_outside_code_fences(text, headers, lists, bold):
    features = answer_style_features(text)
    assert (features.headers, features.lists, features.bold) == (headers, lists, bold)


def test_features_of_a_whole_answer():
    # Line by line: "##" 概 述; 这 是 "**" 重 点 "**" 内 容 "，" 还 有 "__" 强 调 "__" "。" (the underscores
    # are word characters, the full stop a symbol); "1" "." 第 一 步; "2" "." 第 二 步; "-" 要 点;
    # "*" 另 一 个 要 点; the fenced code counts too: "```", "#" and six characters, "-" 代 码, "```".
    assert answer_style_features(CHINESE) == StyleFeatures(
        length=3 + 16 + 5 + 5 + 3 + 6 + 1 + 7 + 3 + 1, headers=1, lists=4, bold=1
    )
    assert STYLE_FEATURE_NAMES == ("length", "headers", "lists", "bold")
    assert np.array([answer_style_features("a"), answer_style_features("# b\n- c")]).tolist() == [
        [1, 0, 0, 0],
        [4, 1, 1, 0],
    ]


# --- covariates -------------------------------------------------------------------------------------------


def test_covariates_are_standardised_normalised_differences():
    features_a = np.array([[100, 2, 0, 0], [50, 0, 3, 1], [10, 1, 0, 5], [0, 0, 0, 2]])
    features_b = np.array([[300, 0, 0, 0], [50, 1, 1, 1], [30, 1, 0, 0], [0, 0, 0, 2]])
    covariates = style_covariates(features_a, features_b)
    # LMArena's (a - b) / (a + b + 1), then a z-score with the population standard deviation.
    ratio = (features_a - features_b) / (features_a + features_b + 1.0)
    expected = (ratio - ratio.mean(axis=0)) / ratio.std(axis=0)
    assert covariates.values == pytest.approx(expected, abs=1e-15)
    assert covariates.names == ("length", "headers", "lists", "bold")
    assert covariates.means == pytest.approx(ratio.mean(axis=0), abs=1e-15)
    assert covariates.scales == pytest.approx(ratio.std(axis=0), abs=1e-15)
    assert covariates.constant.tolist() == [False] * 4
    assert covariates.values.mean(axis=0) == pytest.approx(np.zeros(4), abs=1e-15)
    assert covariates.values.std(axis=0) == pytest.approx(np.ones(4), abs=1e-15)

    # Without smoothing: (a - b) / (a + b), 0 when both are 0.
    plain = style_covariates(features_a, features_b, smoothing=0.0)
    ratio = np.array([[-0.5, 1, 0, 0], [0, -1, 0.5, 0], [-0.5, 0, 0, 1], [0, 0, 0, 0]])
    assert plain.means == pytest.approx(ratio.mean(axis=0), abs=1e-15)
    assert plain.values == pytest.approx((ratio - ratio.mean(axis=0)) / ratio.std(axis=0), abs=1e-15)


def test_a_constant_covariate_becomes_zero_and_is_reported():
    features_a = np.array([[10, 1], [20, 1], [30, 1]])
    features_b = np.array([[20, 1], [10, 1], [30, 1]])
    covariates = style_covariates(features_a, features_b, names=("length", "headers"))
    assert covariates.constant.tolist() == [False, True]
    assert covariates.values[:, 1].tolist() == [0.0, 0.0, 0.0]
    assert covariates.scales[1] == 0.0
    empty = style_covariates(np.zeros((0, 4)), np.zeros((0, 4)))
    assert empty.values.shape == (0, 4)
    assert empty.constant.all()


@pytest.mark.parametrize(
    ("features_a", "features_b", "message"),
    [
        (np.zeros((3, 4)), np.zeros((2, 4)), "shape"),
        (np.zeros((3, 3)), np.zeros((3, 3)), "shape"),
        (-np.ones((2, 4)), np.zeros((2, 4)), "negative"),
        (np.full((2, 4), np.nan), np.zeros((2, 4)), "finite"),
    ],
)
def test_covariates_reject_bad_features(features_a, features_b, message):
    with pytest.raises(ValueError, match=message):
        style_covariates(features_a, features_b)


# --- the fit ---------------------------------------------------------------------------------------------


def simulate_style_votes(rng, true_ratings, coefficients, votes):
    """Votes from the style model: raw features per answer, covariates from them, and outcomes whose
    expected score for A is the model's probability (ties and both-bad taking part of the weaker side's
    share, half a win each way, so the half-win estimator is consistent)."""
    n = len(true_ratings)
    side_a = rng.integers(0, n, votes)
    side_b = (side_a + rng.integers(1, n, votes)) % n
    verbosity = np.linspace(0.6, 1.6, n)  # some contenders write longer answers
    features = [
        np.column_stack(
            [
                rng.integers(40, 900, votes) * verbosity[side],
                rng.poisson(1.0, votes),
                rng.poisson(3.0 * verbosity[side]),
                rng.poisson(2.0, votes),
            ]
        ).round()
        for side in (side_a, side_b)
    ]
    covariates = style_covariates(*features).values[:, : len(coefficients)]
    eta = (true_ratings[side_a] - true_ratings[side_b]) / SCALE + covariates @ coefficients
    probability = 1 / (1 + np.exp(-eta))
    draw = 0.4 * np.minimum(probability, 1 - probability)
    uniform = rng.random(votes)
    outcome = np.select(
        [uniform < probability - draw / 2, uniform < 1 - draw, uniform < 1 - 0.3 * draw],
        [OUTCOME_A, OUTCOME_B, OUTCOME_TIE],
        default=OUTCOME_BOTH_BAD,
    )
    return side_a, side_b, outcome, covariates


def design_matrix(side_a, side_b, covariates, n):
    """One row per vote: +1 for A, -1 for B, then the covariates."""
    rows = np.arange(len(side_a))
    design = np.zeros((len(side_a), n + covariates.shape[1]))
    design[rows, side_a] = 1.0
    design[rows, side_b] = -1.0
    design[:, n:] = covariates
    return design


def scipy_style_fit(side_a, side_b, outcome, covariates, n, ridge=1e-6):
    """An independent fit: scipy's BFGS on the penalised negative log-likelihood, one row per vote."""
    score = algorithms.score_of_outcome(outcome)
    design = design_matrix(side_a, side_b, covariates, n)
    votes = len(score)

    def objective(parameters):
        eta = design @ parameters
        value = (score * np.logaddexp(0, -eta) + (1 - score) * np.logaddexp(0, eta)).sum()
        residual = score - 1 / (1 + np.exp(-eta))
        value += 0.5 * ridge * parameters @ parameters
        gradient = -(design.T @ residual) + ridge * parameters
        return value / votes, gradient / votes

    solution = optimize.minimize(
        objective, np.zeros(design.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-13}
    )
    gradient = np.abs(solution.jac).max() * votes
    theta = solution.x[:n] - solution.x[:n].mean()
    return SCALE * theta + 1000, solution.x[n:], gradient


def test_agrees_with_scipy_on_one_row_per_vote():
    rng = np.random.default_rng(20250301)
    truth = np.array([-150.0, -60.0, 0.0, 40.0, 90.0, 200.0])
    coefficients = np.array([0.45, 0.15, -0.1])
    side_a, side_b, outcome, covariates = simulate_style_votes(rng, truth, coefficients, 3000)
    fit = style_bradley_terry(
        side_a, side_b, outcome, covariates, 6, covariate_names=("length", "headers", "lists")
    )
    ratings, expected_coefficients, reference_gradient = scipy_style_fit(
        side_a, side_b, outcome, covariates, 6
    )
    # The reference stops where rounding stops BFGS (~3e-8 votes), which bounds the agreement below.
    assert reference_gradient < 1e-6
    assert fit.converged
    assert fit.gradient_norm <= 1e-10
    assert fit.flags == ()
    # Measured: 2e-8 points and 2e-11.
    assert np.abs(fit.ratings - ratings).max() < 1e-7
    assert np.abs(fit.coefficients - expected_coefficients).max() < 1e-9
    assert fit.covariate_names == ("length", "headers", "lists")
    assert fit.vote_count == 3000
    assert fit.ratings.mean() == pytest.approx(1000, abs=1e-9)
    assert fit.coefficient_points == pytest.approx(SCALE * fit.coefficients)
    # And near the truth the data came from (standard errors are ~10 points and ~0.045).
    assert np.abs(fit.ratings - (truth - truth.mean() + 1000)).max() < 50
    assert np.abs(fit.coefficients - coefficients).max() < 0.15


def test_gradient_is_zero_at_the_fit_by_an_independent_formula():
    rng = np.random.default_rng(8)
    side_a, side_b, outcome, covariates = simulate_style_votes(
        rng, np.array([0.0, 80.0, -40.0, 120.0]), np.array([0.3, 0.2, 0.0, -0.2]), 4000
    )
    fit = style_bradley_terry(side_a, side_b, outcome, covariates, 4)
    parameters = np.concatenate([fit.log_strengths, fit.coefficients])
    design = design_matrix(side_a, side_b, covariates, 4)
    residual = algorithms.score_of_outcome(outcome) - 1 / (1 + np.exp(-(design @ parameters)))
    assert np.linalg.norm(design.T @ residual - fit.ridge * parameters) < 1e-9
    assert abs(fit.log_strengths.sum()) < 1e-12


def test_sandwich_matches_an_independent_per_vote_computation():
    rng = np.random.default_rng(12)
    n = 5
    side_a, side_b, outcome, covariates = simulate_style_votes(
        rng, np.array([0.0, 60.0, 150.0, -90.0, 20.0]), np.array([0.4, -0.2]), 4000
    )
    fit = style_bradley_terry(side_a, side_b, outcome, covariates, n)
    parameters = np.concatenate([fit.log_strengths, fit.coefficients])
    design = design_matrix(side_a, side_b, covariates, n)
    score = algorithms.score_of_outcome(outcome)

    def gradient(point):
        return design.T @ (score - 1 / (1 + np.exp(-(design @ point))))

    probability = 1 / (1 + np.exp(-(design @ parameters)))
    scores = (score - probability)[:, None] * design  # one row per vote
    meat = scores.T @ scores
    bread = design.T @ (design * (probability * (1 - probability))[:, None])
    # The bread by central finite differences of the gradient agrees with the analytic one.
    step = 1e-5
    differences = np.column_stack(
        [
            (gradient(parameters - step * unit) - gradient(parameters + step * unit)) / (2 * step)
            for unit in np.eye(n + 2)
        ]
    )
    assert differences == pytest.approx(bread, rel=1e-6, abs=1e-6 * np.abs(bread).max())
    # Identified by pinning the last contender: the centred ratings' and the coefficients' covariance do
    # not depend on how the common shift is pinned.
    keep = [*range(n - 1), n, n + 1]
    inverse = np.zeros((n + 2, n + 2))
    inverse[np.ix_(keep, keep)] = np.linalg.inv(bread[np.ix_(keep, keep)])
    covariance = inverse @ meat @ inverse
    centre = np.eye(n) - 1 / n
    rating_covariance = SCALE**2 * centre @ covariance[:n, :n] @ centre
    errors = np.sqrt(np.diag(rating_covariance))
    coefficient_errors = np.sqrt(np.diag(covariance[n:, n:]))
    assert fit.standard_errors == pytest.approx(errors, rel=1e-6)
    assert fit.covariance == pytest.approx(rating_covariance, rel=1e-6, abs=1e-9 * rating_covariance.max())
    assert fit.coefficient_standard_errors == pytest.approx(coefficient_errors, rel=1e-6)
    assert fit.coefficient_covariance == pytest.approx(covariance[n:, n:], rel=1e-6)
    assert fit.high - fit.ratings == pytest.approx(1.959964 * errors, rel=1e-6)
    assert fit.ratings - fit.low == pytest.approx(1.959964 * errors, rel=1e-6)
    assert fit.coefficient_high - fit.coefficients == pytest.approx(1.959964 * coefficient_errors, rel=1e-6)
    assert fit.coefficient_low == pytest.approx(fit.coefficients - 1.959964 * coefficient_errors, rel=1e-6)
    assert fit.ranks.tolist() == algorithms.ranks_from_intervals(fit.low, fit.high).tolist()


def test_zero_covariates_give_the_plain_fit():
    rng = np.random.default_rng(21)
    side_a, side_b, outcome, _ = simulate_style_votes(
        rng, np.array([-100.0, 0.0, 30.0, 80.0, 250.0]), np.array([0.0]), 5000
    )
    # All-equal features: constant columns, every covariate 0.
    features = np.ones((5000, 4))
    covariates = style_covariates(features, features)
    assert covariates.constant.all()
    fit = style_bradley_terry(side_a, side_b, outcome, covariates.values, 5, covariate_names=covariates.names)
    counts = PairCounts.from_votes(side_a, side_b, outcome, 5)
    plain = algorithms.bradley_terry(counts)
    sandwich = algorithms.sandwich_intervals(counts, plain)
    assert np.abs(fit.ratings - plain.ratings).max() < 1e-8
    assert np.abs(fit.log_strengths - plain.log_strengths).max() < 1e-10
    assert fit.coefficients.tolist() == [0.0] * 4
    assert fit.coefficient_standard_errors.tolist() == [0.0] * 4
    assert fit.coefficient_low.tolist() == fit.coefficient_high.tolist() == [0.0] * 4
    assert fit.standard_errors == pytest.approx(sandwich.standard_errors, rel=1e-8)
    assert fit.low == pytest.approx(sandwich.low, abs=1e-6)
    assert fit.high == pytest.approx(sandwich.high, abs=1e-6)
    assert fit.flags == plain.flags
    # No covariate at all is the plain fit too.
    bare = style_bradley_terry(side_a, side_b, outcome, np.zeros((5000, 0)), 5)
    assert np.abs(bare.ratings - plain.ratings).max() < 1e-8
    assert bare.coefficients.shape == (0,)


def test_style_explains_everything():
    """The longer answer always wins; the contenders are otherwise equal, their lengths alike."""
    rng = np.random.default_rng(4)
    n, votes = 4, 4000
    side_a = rng.integers(0, n, votes)
    side_b = (side_a + rng.integers(1, n, votes)) % n
    lengths = rng.permutation(np.arange(100, 100 + 2 * votes)).reshape(2, votes)  # never equal
    other = rng.poisson(2.0, (2, votes, 3))
    covariates = style_covariates(
        np.column_stack([lengths[0], other[0]]), np.column_stack([lengths[1], other[1]])
    )
    outcome = np.where(lengths[0] > lengths[1], OUTCOME_A, OUTCOME_B)
    fit = style_bradley_terry(side_a, side_b, outcome, covariates.values, n, covariate_names=covariates.names)
    assert fit.converged
    length = fit.covariate_names.index("length")
    assert fit.coefficients[length] > 5  # log-odds per standard deviation: decisive
    assert fit.coefficient_low[length] > 0
    assert np.abs(fit.coefficients[1:]).max() < 0.2 * fit.coefficients[length]
    # Quasi-separated by length: the coefficient is huge (~150), the ratings rest on little information
    # (wide intervals) and are equal to within them.
    assert np.ptp(fit.ratings) < 20
    assert (fit.low < 1000).all() and (fit.high > 1000).all()
    assert fit.ranks.tolist() == [1, 1, 1, 1]


def test_style_moves_a_verbose_contender_down():
    """Contender 0 writes longer answers and voters like length: style control takes that away."""
    rng = np.random.default_rng(5)
    n, votes = 5, 20_000
    side_a = rng.integers(0, n, votes)
    side_b = (side_a + rng.integers(1, n, votes)) % n
    verbosity = np.array([3.0, 1.0, 1.0, 1.0, 1.0])
    lengths = [rng.integers(100, 600, votes) * verbosity[side] for side in (side_a, side_b)]
    covariates = style_covariates(
        np.column_stack([lengths[0]]), np.column_stack([lengths[1]]), names=("length",)
    )
    eta = 0.8 * covariates.values[:, 0]
    probability = 1 / (1 + np.exp(-eta))
    outcome = np.where(rng.random(votes) < probability, OUTCOME_A, OUTCOME_B)
    plain = algorithms.bradley_terry(PairCounts.from_votes(side_a, side_b, outcome, n))
    fit = style_bradley_terry(side_a, side_b, outcome, covariates.values, n, covariate_names=("length",))
    assert plain.ratings[0] - plain.ratings[1:].max() > 50  # length alone makes it look better
    assert np.ptp(fit.ratings) < 25  # all equal once style is held equal
    assert abs(fit.coefficients[0] - 0.8) < 4 * fit.coefficient_standard_errors[0]


def test_intervals_cover_the_truth_95_percent_of_the_time():
    """200 trials x (6 ratings + 3 coefficients) = 1,800 checks (the standard error of a 95% coverage
    estimate is then 0.5 points), 3,000 votes per trial with ties and both-bad."""
    rng = np.random.default_rng(2025)
    truth = np.array([-150.0, -60.0, 0.0, 40.0, 90.0, 200.0])
    coefficients = np.array([0.45, 0.15, -0.1])
    covered = 0
    for _ in range(200):
        side_a, side_b, outcome, covariates = simulate_style_votes(rng, truth, coefficients, 3000)
        fit = style_bradley_terry(side_a, side_b, outcome, covariates, 6)
        centred = truth - truth.mean() + 1000
        covered += ((fit.low <= centred) & (centred <= fit.high)).sum()
        covered += ((fit.coefficient_low <= coefficients) & (coefficients <= fit.coefficient_high)).sum()
    assert 0.93 <= covered / 1800 <= 0.97


def test_frequency_weights_count_a_vote_that_many_times():
    rng = np.random.default_rng(9)
    side_a, side_b, outcome, covariates = simulate_style_votes(
        rng, np.array([0.0, 50.0, -30.0]), np.array([0.3, 0.1]), 1500
    )
    weights = rng.integers(0, 3, 1500)  # 0 leaves a vote out, 2 counts it twice
    repeated = np.repeat(np.arange(1500), weights)
    weighted = style_bradley_terry(side_a, side_b, outcome, covariates, 3, weights=weights.astype(float))
    copied = style_bradley_terry(
        side_a[repeated], side_b[repeated], outcome[repeated], covariates[repeated], 3
    )
    assert weighted.vote_count == int((weights > 0).sum())
    assert weighted.ratings == pytest.approx(copied.ratings, abs=1e-8)
    assert weighted.coefficients == pytest.approx(copied.coefficients, abs=1e-10)
    assert weighted.standard_errors == pytest.approx(copied.standard_errors, rel=1e-8)
    assert weighted.coefficient_standard_errors == pytest.approx(copied.coefficient_standard_errors, rel=1e-8)


def test_anchor_pins_one_contender_and_keeps_the_differences():
    rng = np.random.default_rng(3)
    side_a, side_b, outcome, covariates = simulate_style_votes(
        rng, np.array([0.0, 100.0, -50.0, 30.0]), np.array([0.3]), 4000
    )
    centred = style_bradley_terry(side_a, side_b, outcome, covariates, 4)
    anchored = style_bradley_terry(
        side_a, side_b, outcome, covariates, 4, anchor_index=2, anchor_rating=1114.0
    )
    assert anchored.ratings[2] == 1114.0
    assert anchored.ratings - 1114.0 == pytest.approx(centred.ratings - centred.ratings[2], abs=1e-9)
    assert anchored.standard_errors[2] == pytest.approx(0.0, abs=1e-9)
    assert anchored.standard_errors[[0, 1, 3]].min() > 0
    assert anchored.coefficients == pytest.approx(centred.coefficients, abs=1e-12)
    assert anchored.coefficient_standard_errors == pytest.approx(
        centred.coefficient_standard_errors, rel=1e-9
    )


def test_degenerate_data():
    # No contenders.
    empty = style_bradley_terry(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)), 0)
    assert empty.ratings.shape == (0,)
    assert empty.coefficients.tolist() == [0.0, 0.0]
    assert empty.flags == ("no_contenders",)
    # No votes.
    silent = style_bradley_terry(np.zeros(0, int), np.zeros(0, int), np.zeros(0, int), np.zeros((0, 2)), 3)
    assert silent.ratings.tolist() == [1000.0] * 3
    assert silent.low.tolist() == silent.high.tolist() == [1000.0] * 3
    assert silent.ranks.tolist() == [1, 1, 1]
    assert silent.flags == ("no_votes",)
    assert silent.converged
    # A contender without a vote: held at the mean by the ridge, flagged.
    rng = np.random.default_rng(6)
    side_a, side_b, outcome, covariates = simulate_style_votes(
        rng, np.array([0.0, 60.0, -60.0]), np.array([0.2]), 900
    )
    fit = style_bradley_terry(side_a, side_b, outcome, covariates, 4)
    assert fit.flags == ("unrated",)
    assert fit.log_strengths[3] == 0.0
    assert np.isfinite(fit.low).all() and np.isfinite(fit.high).all()
    # An undefeated contender stays finite.
    side_a, side_b = np.array([0, 0, 1, 2, 1]), np.array([1, 2, 2, 1, 0])
    outcome = np.array([OUTCOME_A, OUTCOME_A, OUTCOME_A, OUTCOME_A, OUTCOME_B])
    fit = style_bradley_terry(side_a, side_b, outcome, np.array([[1.0], [-1.0], [0.5], [0.0], [-0.5]]), 3)
    assert fit.converged
    assert "undefeated" in fit.flags
    assert np.isfinite(fit.ratings).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"covariates": np.zeros((2, 1))}, "covariates must have shape"),
        ({"covariates": np.full((3, 1), np.nan)}, "finite"),
        ({"covariate_names": ("a", "b")}, "2 covariate names for 1"),
        ({"weights": np.array([1.0, -1.0, 1.0])}, "weights"),
        ({"weights": np.ones(2)}, "weights must have shape"),
        ({"anchor_index": 5}, "anchor_index 5"),
        ({"ridge": 0.0}, "positive"),
        ({"side_b": np.array([1, 0, 0])}, "vote 2: contender 0 is on both sides"),
    ],
)
def test_rejects_bad_input(kwargs, message):
    arguments = {
        "side_a": np.array([0, 1, 0]),
        "side_b": np.array([1, 2, 2]),
        "outcome": np.array([OUTCOME_A, OUTCOME_B, OUTCOME_TIE]),
        "covariates": np.zeros((3, 1)),
        "contender_count": 3,
    } | kwargs
    with pytest.raises(ValueError, match=message):
        style_bradley_terry(**arguments)


def test_re_exported_from_algorithms():
    assert algorithms.style_bradley_terry is style_bradley_terry
    assert algorithms.answer_style_features is answer_style_features
    assert algorithms.style_covariates is style_covariates
