"""judges/agreement.py: hand-computed cases, scipy as the reference for the rank correlations, edge cases."""

import dataclasses
import json
import math

import numpy as np
import pytest
from scipy import stats

from judges.agreement import (
    Agreement,
    agreement,
    agreement_share,
    board_correlation,
    cohen_kappa,
    combined_verdict,
    flip_rate,
    kendall_tau_b,
    longer_win_share,
    spearman,
)

EXACT = 1e-12

# Six battles worked out by hand.
#   battle  as_shown  swapped  judge = sign(sum)  human  longer  sign flip?
#   1        2         1        +1                 +1     +1      no
#   2        1        -1         0                 +1     -1      yes
#   3       -2        -1        -1                 -1     -1      no
#   4       -1        -1        -1                  0     +1      no
#   5       -1         2        +1                 -1     +1      yes
#   6        0         0         0                  0      0      no
AS_SHOWN = [2, 1, -2, -1, -1, 0]
SWAPPED = [1, -1, -1, -1, 2, 0]
JUDGE = [1, 0, -1, -1, 1, 0]
HUMAN = [1, 1, -1, 0, -1, 0]
LONGER = [1, -1, -1, 1, 1, 0]
# Agreement: battles 1, 3, 6 -> 3/6.
# Confusion (rows judge -1/0/1, columns human -1/0/1):
#   judge -1: battle 3 (human -1), battle 4 (human 0)  -> [1, 1, 0]
#   judge  0: battle 6 (human 0),  battle 2 (human 1)  -> [0, 1, 1]
#   judge +1: battle 5 (human -1), battle 1 (human 1)  -> [1, 0, 1]
# Every row and column totals 2, so p_e = 3 x (2/6)² = 1/3; kappa = (1/2 - 1/3) / (1 - 1/3) = 1/4.
# Flips: battles 2 and 5 -> 2/6 = 1/3.
# Judge and longer answer, decisive and of unequal lengths: battles 1 (won), 3 (won), 4 (lost), 5 (won)
# -> 3/4 (battle 2 is a judge tie, battle 6 of equal lengths).
# Humans: battles 1 (won), 2 (lost), 3 (won), 5 (lost) -> 2/4 (battle 4 a tie, battle 6 equal lengths).


def test_combined_verdict_is_the_sign_of_the_sum() -> None:
    assert combined_verdict(AS_SHOWN, SWAPPED).tolist() == JUDGE
    # A strong reading outweighs a weak opposite one; equal opposite readings make a tie.
    assert combined_verdict([2, -2, 1, -1, 0], [-1, 1, -1, 1, -1]).tolist() == [1, -1, 0, 0, -1]


def test_hand_worked_battles() -> None:
    result = agreement(AS_SHOWN, SWAPPED, HUMAN, LONGER)

    assert result.battles == 6
    assert result.agree_share == pytest.approx(1 / 2, abs=EXACT)
    assert result.kappa == pytest.approx(1 / 4, abs=EXACT)
    assert result.flip_rate == pytest.approx(1 / 3, abs=EXACT)
    assert result.judge_longer_share == pytest.approx(3 / 4, abs=EXACT)
    assert result.human_longer_share == pytest.approx(2 / 4, abs=EXACT)
    assert result.confusion == [[1, 1, 0], [0, 1, 1], [1, 0, 1]]


def test_functions_agree_with_the_hand_worked_battles() -> None:
    assert agreement_share(JUDGE, HUMAN) == pytest.approx(1 / 2, abs=EXACT)
    assert cohen_kappa(JUDGE, HUMAN) == pytest.approx(1 / 4, abs=EXACT)
    assert flip_rate(AS_SHOWN, SWAPPED) == pytest.approx(1 / 3, abs=EXACT)
    assert longer_win_share(LONGER, JUDGE) == pytest.approx(3 / 4, abs=EXACT)
    assert longer_win_share(LONGER, HUMAN) == pytest.approx(1 / 2, abs=EXACT)


def test_as_dict_rounds_to_four_decimals_and_is_json_ready() -> None:
    values = agreement(AS_SHOWN, SWAPPED, HUMAN, LONGER).as_dict()

    assert values == {
        "battles": 6,
        "agree_share": 0.5,
        "kappa": 0.25,
        "flip_rate": 0.3333,
        "judge_longer_share": 0.75,
        "human_longer_share": 0.5,
        "confusion": [[1, 1, 0], [0, 1, 1], [1, 0, 1]],
    }
    assert json.loads(json.dumps(values)) == values
    assert all(type(values[key]) is float for key in ("agree_share", "kappa", "flip_rate"))


def test_as_dict_rounds_every_share() -> None:
    values = Agreement(
        battles=7,
        agree_share=2 / 3,
        kappa=1 / 7,
        flip_rate=-1 / 3,
        judge_longer_share=5 / 9,
        human_longer_share=None,
        confusion=[[1, 0, 0], [0, 2, 0], [0, 0, 4]],
    ).as_dict()

    assert values == {
        "battles": 7,
        "agree_share": 0.6667,
        "kappa": 0.1429,
        "flip_rate": -0.3333,
        "judge_longer_share": 0.5556,
        "human_longer_share": None,
        "confusion": [[1, 0, 0], [0, 2, 0], [0, 0, 4]],
    }


def test_agreement_is_frozen() -> None:
    result = agreement(AS_SHOWN, SWAPPED, HUMAN, LONGER)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.kappa = 1.0  # type: ignore[misc]


def test_kappa_with_unequal_marginals() -> None:
    # judge  1  1  1  0 -1
    # human  1  1  0  0  0     agree on battles 1, 2, 4: p_o = 3/5.
    # judge totals (-1, 0, 1) = (1, 1, 3), human totals = (0, 3, 2):
    # p_e = (1 x 0 + 1 x 3 + 3 x 2) / 25 = 9/25; kappa = (15/25 - 9/25) / (16/25) = 6/16 = 3/8.
    assert cohen_kappa([1, 1, 1, 0, -1], [1, 1, 0, 0, 0]) == pytest.approx(3 / 8, abs=EXACT)
    # Kappa is symmetric in its two raters.
    assert cohen_kappa([1, 1, 0, 0, 0], [1, 1, 1, 0, -1]) == pytest.approx(3 / 8, abs=EXACT)


def test_kappa_is_zero_for_a_judge_that_always_says_tie() -> None:
    # p_o = 2/4 (the two human ties); p_e = 1 x 2/4 (judge all ties, humans half ties) -> kappa 0,
    # though the raw agreement is one half.
    assert agreement_share([0, 0, 0, 0], [1, 0, -1, 0]) == pytest.approx(1 / 2, abs=EXACT)
    assert cohen_kappa([0, 0, 0, 0], [1, 0, -1, 0]) == pytest.approx(0.0, abs=EXACT)


def test_kappa_of_complete_disagreement_is_negative() -> None:
    # p_o = 0, p_e = (1 x 1 + 1 x 1) / 4 = 1/2 -> kappa = -1/2 / 1/2 = -1.
    assert cohen_kappa([1, -1], [-1, 1]) == pytest.approx(-1.0, abs=EXACT)


@pytest.mark.parametrize("label", [-1, 0, 1])
def test_kappa_is_undefined_when_both_always_give_the_same_label(label: int) -> None:
    assert cohen_kappa([label] * 3, [label] * 3) is None


def test_kappa_is_defined_when_each_side_is_constant_on_different_labels() -> None:
    # p_e = 0 (no label shared), p_o = 0 -> kappa 0.
    assert cohen_kappa([1, 1], [-1, -1]) == pytest.approx(0.0, abs=EXACT)


def test_flip_counts_a_change_between_a_side_and_a_tie() -> None:
    # sign(1) != sign(0) flips; sign(2) == sign(1) and sign(-2) == sign(-1) do not.
    assert flip_rate([1, 2, -2, 0], [0, 1, -1, 0]) == pytest.approx(1 / 4, abs=EXACT)


def test_longer_win_share_is_undefined_without_decisive_unequal_battles() -> None:
    # Battle 1: equal lengths; battle 2: a tie.
    assert longer_win_share([0, 1], [1, 0]) is None


def test_empty_battles() -> None:
    result = agreement([], [], [], [])

    assert result == Agreement(
        battles=0,
        agree_share=None,
        kappa=None,
        flip_rate=None,
        judge_longer_share=None,
        human_longer_share=None,
        confusion=[[0, 0, 0], [0, 0, 0], [0, 0, 0]],
    )
    assert combined_verdict([], []).tolist() == []
    assert agreement_share([], []) is None
    assert cohen_kappa([], []) is None
    assert flip_rate([], []) is None
    assert longer_win_share([], []) is None


def test_rank_correlations_by_hand() -> None:
    # Ranks x = (1, 2, 3), y = (1, 3, 2): rho = 1 - 6 x (0 + 1 + 1) / (3 x 8) = 1/2.
    # Pairs (1,2) and (1,3) concordant, (2,3) discordant: tau = (2 - 1) / 3 = 1/3.
    assert spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 2, abs=EXACT)
    assert kendall_tau_b([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3, abs=EXACT)
    # x = (1, 1, 2), y = (1, 2, 3): pair (1,2) tied in x, (1,3) and (2,3) concordant.
    # n0 = 3, ties in x = 1, ties in y = 0: tau-b = 2 / sqrt(2 x 3).
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6), abs=EXACT)
    # Ranks x = (1.5, 1.5, 3), y = (1, 2, 3): deviations (-0.5, -0.5, 1) and (-1, 0, 1):
    # rho = 1.5 / sqrt(1.5 x 2) = sqrt(3) / 2.
    assert spearman([1, 1, 2], [1, 2, 3]) == pytest.approx(math.sqrt(3) / 2, abs=EXACT)
    assert spearman([1, 2, 3], [30, 20, 10]) == -1.0
    assert kendall_tau_b([1, 2, 3], [30, 20, 10]) == -1.0


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n", [2, 3, 7, 40, 300])
def test_rank_correlations_match_scipy_with_ties(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct values, so most samples have many ties; ratings-like floats for the other side.
    x, y = np.zeros(n), np.zeros(n)
    # Redrawn while a side is constant (there both are None, see test_rank_correlations_undefined).
    while np.all(x == x[0]) or np.all(y == y[0]):
        x = rng.integers(0, 5, size=n).astype(np.float64)
        y = np.round(rng.normal(1000.0, 50.0, size=n) + 20.0 * x, 0 if seed % 2 else 1)
        if seed % 3 == 0:
            y = rng.integers(0, 3, size=n).astype(np.float64)

    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic, abs=EXACT)
    assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=EXACT)


def test_kendall_crosses_block_boundaries_like_scipy() -> None:
    rng = np.random.default_rng(11)
    x = rng.integers(0, 40, size=2500).astype(np.float64)
    y = x + rng.integers(0, 30, size=2500)

    assert kendall_tau_b(x, y) == pytest.approx(stats.kendalltau(x, y).statistic, abs=EXACT)


@pytest.mark.parametrize(
    ("x", "y"),
    [([], []), ([1.0], [2.0]), ([1, 1, 1], [1, 2, 3]), ([1, 2, 3], [5, 5, 5])],
)
def test_rank_correlations_undefined(x: list[float], y: list[float]) -> None:
    assert spearman(x, y) is None
    assert kendall_tau_b(x, y) is None


def test_board_correlation_over_common_contenders() -> None:
    # Common contenders 1, 2, 3: judge ranks (3, 2, 1), human ranks (2, 3, 1), as in the hand case above
    # (rho 1/2, tau 1/3); contenders 4 and 5 are rated on one board only.
    judge = {1: 1200.0, 2: 1100.0, 3: 1000.0, 4: 900.0}
    human = {3: 1000.0, 2: 1160.0, 1: 1150.0, 5: 800.0}

    assert board_correlation(judge, human) == {"contenders": 3, "spearman": 0.5, "kendall": 0.3333}
    assert board_correlation(judge, {5: 1.0}) == {"contenders": 0, "spearman": None, "kendall": None}


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: combined_verdict([1, 2], [1]), "as_shown has 2, swapped has 1"),
        (lambda: combined_verdict([3], [1]), "as_shown must lie within -2..2"),
        (lambda: combined_verdict([1], [-3]), "swapped must lie within -2..2"),
        (lambda: flip_rate([0.5], [1]), "as_shown must hold whole numbers"),
        (lambda: flip_rate([[1]], [[1]]), "as_shown must be 1-D"),
        (lambda: flip_rate([1], [1.5]), "swapped must hold whole numbers"),
        (lambda: agreement_share([2], [1]), "judge must lie within -1..1"),
        (lambda: cohen_kappa([1], [-2]), "human must lie within -1..1"),
        (lambda: cohen_kappa(["a"], [1]), "judge must hold numbers"),
        (lambda: longer_win_share([1, 0], [1]), "longer has 2, verdict has 1"),
        (lambda: longer_win_share([1], [np.nan]), "verdict must hold finite numbers"),
        (lambda: agreement([1], [1], [1], [2]), "longer must lie within -1..1"),
        (lambda: agreement([1], [1], [1, 0], [1]), "human has 2"),
        (lambda: agreement([2], [1], [-2], [1]), "human must lie within -1..1"),
        (lambda: spearman([1, 2], [1, np.inf]), "y must hold finite numbers"),
        (lambda: kendall_tau_b([1, 2, 3], [1, 2]), "x has 3, y has 2"),
        (lambda: kendall_tau_b(np.ones((2, 2)), [1, 2]), "x must be 1-D"),
    ],
)
def test_bad_input_is_refused_naming_the_argument(call: object, argument: str) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match=argument.replace(".", r"\.")):
        call()
