"""The agreement figures of one judge, as (label, value) columns: the table's headings and its cells
come from this one list, and each cell carries its label for the phone layout, where a judge's row
becomes a card of labelled figures."""

from collections.abc import Callable, Mapping
from typing import Any

from django import template
from django.utils.translation import gettext_lazy as _

from ratings.templatetags.ratings_format import percent, signed_or_dash

register = template.Library()

Figure = Callable[[Callable[[str], Any]], str]

_COLUMNS: list[tuple[Any, Figure, bool]] = [
    # label, the figure from the item's fields, whether only the overall table shows it
    (_("Battles compared"), lambda field: str(field("battles")), False),
    (_("Same verdict"), lambda field: percent(field("agree_share")), False),
    (_("Cohen's κ"), lambda field: signed_or_dash(field("kappa")), False),
    (_("Spearman ρ"), lambda field: signed_or_dash(field("spearman")), False),
    (_("Kendall τ"), lambda field: signed_or_dash(field("kendall")), False),
    (_("Flips when swapped"), lambda field: percent(field("flip_rate")), False),
    (_("First answer wins"), lambda field: percent(field("first_shown_win_share")), True),
    (
        _("Longer answer wins: judge / voters"),
        lambda field: f"{percent(field('judge_longer_share'))} / {percent(field('human_longer_share'))}",
        False,
    ),
]


@register.simple_tag
def agreement_columns(first_shown: bool, item: Any = None) -> list[tuple[str, str]]:
    """(label, figure) for each column; the figures are empty without an item (the headings). The
    item is one judge's agreement, a mapping or an object with those fields."""

    def field(name: str) -> Any:
        return item[name] if isinstance(item, Mapping) else getattr(item, name)

    return [
        (str(label), figure(field) if item is not None else "")
        for label, figure, overall_only in _COLUMNS
        if first_shown or not overall_only
    ]
