from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from battles.models import Question, question_text_sha256


class QuestionForm(forms.ModelForm):
    """The admin's question form: the same text (ignoring whitespace) is never stored twice."""

    class Meta:
        model = Question
        fields = ["text", "text_en", "category", "language", "is_active", "external_id", "source"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        text = cleaned.get("text")
        if text:
            digest = question_text_sha256(text)
            duplicate = Question.objects.filter(text_sha256=digest).exclude(pk=self.instance.pk).first()
            if duplicate is not None:
                self.add_error(
                    "text", _("The bank already has this question (#%(id)s).") % {"id": duplicate.pk}
                )
            self.instance.text_sha256 = digest
        return cleaned
