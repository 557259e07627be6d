"""The question bank."""

import hashlib
import re

from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from battles.models.common import ORIGIN_HELP_TEXT, Origin

_WHITESPACE = re.compile(r"\s+")


def normalise_question_text(text: str) -> str:
    """A question's text as the bank compares it: runs of white space made one space, ends stripped."""
    return _WHITESPACE.sub(" ", text).strip()


def question_text_sha256(text: str) -> str:
    """The key a question is known by in the bank (text_sha256): the hash of its normalised text."""
    return hashlib.sha256(normalise_question_text(text).encode("utf-8")).hexdigest()


class Category(models.Model):
    code = models.CharField(
        _("code"), max_length=64, unique=True, help_text=_("Stable key, e.g. QA or CODE.")
    )
    name = models.CharField(
        _("name"), max_length=200, help_text=_("Display name, as written, e.g. 知识问答.")
    )
    name_en = models.CharField(
        _("English name"),
        max_length=200,
        blank=True,
        help_text=_("Shown instead of the name when the interface is in English, e.g. Knowledge."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("category")
        verbose_name_plural = _("categories")

    def __str__(self) -> str:
        return self.name if self.name == self.code else f"{self.name} ({self.code})"

    @property
    def display_name(self) -> str:
        """The name in the interface's language: the English one in English, where there is one."""
        if self.name_en and (get_language() or "").startswith("en"):
            return self.name_en
        return self.name


class Question(models.Model):
    external_id = models.CharField(
        _("external id"),
        max_length=200,
        unique=True,
        null=True,
        blank=True,
        help_text=_("The id the question has in the file it was imported from."),
    )
    text = models.TextField(_("text"))
    text_en = models.TextField(
        _("English translation"),
        blank=True,
        help_text=_(
            "Shown under the question when the interface is in English and the question is not; the "
            "models answered the original text."
        ),
    )
    # SHA-256 of the whitespace-normalised text: the same question is never stored twice.
    text_sha256 = models.CharField(max_length=64, unique=True, editable=False)
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="questions", verbose_name=_("category")
    )
    language = models.CharField(_("language"), max_length=16, help_text=_("BCP 47 code, e.g. zh or en."))
    is_active = models.BooleanField(_("active"), default=True)
    source = models.CharField(_("source"), max_length=500, blank=True)
    origin = models.CharField(
        _("origin"), max_length=16, choices=Origin.choices, default=Origin.REAL, help_text=ORIGIN_HELP_TEXT
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        indexes = [models.Index(fields=["category", "is_active"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(origin__in=["real", "demo", "seeded"]), name="question_origin_valid"
            )
        ]

    def __str__(self) -> str:
        return self.text[:80]

    @property
    def translation_shown(self) -> str:
        """The translation to show under the text in the interface's language, or ""."""
        english = (get_language() or "").startswith("en")
        if english and self.text_en and not self.language.lower().startswith("en"):
            return self.text_en
        return ""
