"""The judge prompt: reading verdicts back strictly, checking and filling templates, the markers the demo
judge reads, and saving new prompt versions (the service and the admin)."""

import html

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from battles.demo.judge import JUDGE_MARKERS, JudgeSections, parse_judge_prompt
from judges import prompts
from judges.models import JudgePrompt
from judges.prompts import (
    DEFAULT_PROMPTS,
    LABEL_SCORES,
    LABELS_BY_SCORE,
    ParsedVerdict,
    prompt_fill,
    prompt_language,
    template_problems,
    verdict_parse,
)
from judges.services.judges import judge_prompt_create
from judges.services.judging import current_prompt

# --- Reading a verdict -----------------------------------------------------------------------------


@pytest.mark.parametrize(("label", "score"), [("A>>B", 2), ("A>B", 1), ("A=B", 0), ("B>A", -1), ("B>>A", -2)])
def test_each_label_is_read_as_written_and_a_swapped_one_is_negated(label, score):
    reply = f"Both are fine, but on balance:\n\n[[{label}]]"
    assert verdict_parse(reply, swapped=False) == ParsedVerdict(label=label, score=score)
    assert verdict_parse(reply, swapped=True) == ParsedVerdict(label=label, score=-score)


def test_the_label_table_maps_both_ways():
    assert LABEL_SCORES == {"A>>B": 2, "A>B": 1, "A=B": 0, "B>A": -1, "B>>A": -2}
    assert LABELS_BY_SCORE == {2: "A>>B", 1: "A>B", 0: "A=B", -1: "B>A", -2: "B>>A"}


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "A is better.",
        "A>B",  # no brackets
        "[A>B]",  # single brackets
        "[[a>b]]",  # lower case
        "[[A > B]]",  # spaces
        "[[A>>>B]]",
        "[[B<A]]",
        "［［A>B］］",  # full-width brackets
        "【【A>B】】",
        "[[A>B]] on second thought [[B>A]]",  # two different verdicts
        "[[A=B]]\n[[A>>B]]",
    ],
)
def test_replies_without_exactly_one_kind_of_verdict_are_unparseable(reply):
    assert verdict_parse(reply, swapped=False) is None
    assert verdict_parse(reply, swapped=True) is None


def test_the_same_verdict_repeated_is_one_verdict():
    reply = "My verdict is [[B>A]].\n\nFinal verdict: [[B>A]]"
    assert verdict_parse(reply, swapped=False) == ParsedVerdict(label="B>A", score=-1)
    assert verdict_parse(reply, swapped=True) == ParsedVerdict(label="B>A", score=1)


def test_a_verdict_inside_more_brackets_is_read():
    # The token itself is there, exactly once: "[[[A>B]]]" holds "[[A>B]]".
    assert verdict_parse("[[[A>B]]]", swapped=False) == ParsedVerdict(label="A>B", score=1)


# --- Templates -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "problems"),
    [
        ("{question} {answer_a} {answer_b}", []),
        ("{question} {answer_a}", ["{answer_b}"]),
        ("{question} {question} {answer_a} {answer_b}", ["{question}"]),
        ("{answer_a} {answer_b} {answer_a}", ["{question}", "{answer_a}"]),
        ("", ["{question}", "{answer_a}", "{answer_b}"]),
        ("{Question} {answer_A} { answer_b }", ["{question}", "{answer_a}", "{answer_b}"]),
        ("{{question}} {answer_a} {answer_b}", []),  # the placeholder is there once
    ],
)
def test_template_problems_name_each_placeholder_not_there_exactly_once(template, problems):
    assert template_problems(template) == problems


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_default_templates_have_no_problems_and_every_marker_once(language):
    system_text, template = DEFAULT_PROMPTS[language]
    assert template_problems(template) == []
    assert system_text and "{" not in system_text
    for start, end in JUDGE_MARKERS.values():
        assert template.count(start) == 1 and template.count(end) == 1
    # The five verdicts are all offered.
    for label in LABEL_SCORES:
        assert template.count(f"[[{label}]]") == 1


@pytest.mark.parametrize(
    ("language", "prompt"),
    [("zh", "zh-hans"), ("zh-Hant", "zh-hans"), ("ZH-CN", "zh-hans"), ("en", "en"), ("fr", "en"), ("", "en")],
)
def test_the_prompt_language_of_a_question(language, prompt):
    assert prompt_language(language) == prompt


def test_prompt_fill_puts_the_answers_in_order_and_leaves_braces_in_them_alone():
    template = "Q: {question}\nFirst: {answer_a}\nSecond: {answer_b}\n{not_a_placeholder} {}"
    filled = prompt_fill(
        template,
        question="What is {answer_a}?",
        answer_first="Write {answer_b} literally, and {} and {{x}}.",
        answer_second="def f(): return {'question': 1}",
    )
    assert filled == (
        "Q: What is {answer_a}?\n"
        "First: Write {answer_b} literally, and {} and {{x}}.\n"
        "Second: def f(): return {'question': 1}\n"
        "{not_a_placeholder} {}"
    )


def test_prompt_fill_keeps_backslashes_and_group_references():
    filled = prompt_fill(
        "{question}|{answer_a}|{answer_b}",
        question=r"\1 \g<0>",
        answer_first="C:\\temp\\n",
        answer_second="$1",
    )
    assert filled == "\\1 \\g<0>|C:\\temp\\n|$1"


# --- The demo judge reads what the arena sends -----------------------------------------------------


def test_the_demo_judge_markers_are_the_prompt_markers():
    assert dict(JUDGE_MARKERS) == {
        "question": (prompts.QUESTION_START, prompts.QUESTION_END),
        "answer_a": (prompts.ANSWER_A_START, prompts.ANSWER_A_END),
        "answer_b": (prompts.ANSWER_B_START, prompts.ANSWER_B_END),
    }


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_demo_judge_parses_each_default_prompt_filled_in(language):
    _, template = DEFAULT_PROMPTS[language]
    question = "天空为什么是蓝色的？\nExplain {briefly}."
    first = "Rayleigh scattering.\n\n- short waves scatter more\n- {answer_b} stays as written"
    second = "```python\nprint({'sky': 'blue'})\n```"
    prompt = prompt_fill(template, question=question, answer_first=first, answer_second=second)
    assert parse_judge_prompt(prompt) == JudgeSections(question=question, answer_a=first, answer_b=second)
    swapped = prompt_fill(template, question=question, answer_first=second, answer_second=first)
    assert parse_judge_prompt(swapped) == JudgeSections(question=question, answer_a=second, answer_b=first)


# --- New versions: the service ---------------------------------------------------------------------

TEMPLATE = "Question: {question}\nOne: {answer_a}\nTwo: {answer_b}\nVerdict as [[A>B]]."


def _versions() -> list[tuple[str, int]]:
    return list(JudgePrompt.objects.order_by("language", "version").values_list("language", "version"))


@pytest.mark.django_db
def test_versions_are_numbered_per_language():
    # Version 1 of each language is the default (saved by a migration, or on first use).
    assert (current_prompt("en").version, current_prompt("zh-hans").version) == (1, 1)
    second = judge_prompt_create(
        language="en", template=TEMPLATE, system_text="Be fair.", note="shorter", created_by="alice"
    )
    third = judge_prompt_create(language="en", template=TEMPLATE + "\n", note="newline")
    chinese = judge_prompt_create(language="zh-hans", template=TEMPLATE, created_by="bob")
    assert (second.version, third.version, chinese.version) == (2, 3, 2)
    assert _versions() == [("en", 1), ("en", 2), ("en", 3), ("zh-hans", 1), ("zh-hans", 2)]
    second.refresh_from_db()
    assert (second.language, second.system_text, second.template, second.note, second.created_by) == (
        "en",
        "Be fair.",
        TEMPLATE,
        "shorter",
        "alice",
    )
    assert current_prompt("en") == third and current_prompt("zh-hans") == chinese


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"language": "en", "template": "{question} {answer_a}"},
            {"template": ["The prompt must hold each of {answer_b} exactly once."]},
        ),
        (
            {"language": "en", "template": "{question} {answer_a} {answer_b} {answer_a}"},
            {"template": ["The prompt must hold each of {answer_a} exactly once."]},
        ),
        (
            {"language": "en", "template": "no placeholders"},
            {"template": ["The prompt must hold each of {question}, {answer_a}, {answer_b} exactly once."]},
        ),
        ({"language": "fr", "template": TEMPLATE}, {"language": ["There is no judge prompt language 'fr'."]}),
        ({"language": "", "template": TEMPLATE}, {"language": ["There is no judge prompt language ''."]}),
    ],
)
def test_a_refused_prompt_saves_nothing(fields, errors):
    for language in ("en", "zh-hans"):
        current_prompt(language)  # version 1 of each, whether a migration saved it or not
    before = list(JudgePrompt.objects.order_by("pk").values())
    with translation.override("en"), pytest.raises(ValidationError) as raised:
        judge_prompt_create(**fields)
    assert raised.value.message_dict == errors
    assert list(JudgePrompt.objects.order_by("pk").values()) == before


# --- New versions: the admin -----------------------------------------------------------------------


@pytest.fixture
def staff(django_user_model) -> Client:
    user = django_user_model.objects.create_superuser(
        "prompt-editor", "editor@example.org", "a-long-password"
    )
    client = Client()
    client.force_login(user)
    client.cookies["arena_language"] = "en"
    return client


ADD_URL = "/admin/judges/judgeprompt/add/"


@pytest.mark.django_db
def test_staff_add_a_version_through_the_admin(staff):
    for language in ("en", "zh-hans"):
        current_prompt(language)  # version 1 of each, whether a migration saved it or not
    response = staff.post(
        ADD_URL,
        {"language": "en", "system_text": "Be fair.", "template": TEMPLATE, "note": "terser"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert response["Location"] == "/admin/judges/judgeprompt/"
    saved = JudgePrompt.objects.get(language="en", version=2)
    assert (saved.system_text, saved.template, saved.note, saved.created_by) == (
        "Be fair.",
        TEMPLATE,
        "terser",
        "prompt-editor",
    )
    assert _versions() == [("en", 1), ("en", 2), ("zh-hans", 1)]
    assert current_prompt("en") == saved


@pytest.mark.django_db
def test_the_add_form_starts_from_the_newest_version_of_the_language(staff):
    current_prompt("en")
    newest = judge_prompt_create(language="en", template=TEMPLATE, system_text="Be <strict>.")
    page = staff.get(ADD_URL, {"language": "en"}).content.decode()
    assert html.escape(TEMPLATE, quote=False) in page
    assert "Be &lt;strict&gt;." in page
    default = current_prompt("zh-hans")
    page = staff.get(ADD_URL, {"from": default.pk}).content.decode()
    assert html.escape(default.template, quote=False) in page
    assert newest.template not in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{question} {answer_a}", "The prompt must hold each of {answer_b} exactly once."),
        (
            "{question} {answer_a} {answer_b} {answer_b}",
            "The prompt must hold each of {answer_b} exactly once.",
        ),
    ],
)
def test_the_admin_refuses_a_template_with_a_placeholder_missing_or_repeated(staff, template, message):
    for language in ("en", "zh-hans"):
        current_prompt(language)  # version 1 of each, whether a migration saved it or not
    before = list(JudgePrompt.objects.order_by("pk").values())
    response = staff.post(ADD_URL, {"language": "en", "system_text": "", "template": template, "note": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"template": [message]}
    assert list(JudgePrompt.objects.order_by("pk").values()) == before


@pytest.mark.django_db
def test_a_saved_version_cannot_be_changed(staff):
    prompt = current_prompt("en")
    before = list(JudgePrompt.objects.order_by("pk").values())
    url = f"/admin/judges/judgeprompt/{prompt.pk}/change/"
    page = staff.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="template"' not in text and 'name="_save"' not in text  # read only
    refused = staff.post(url, {"language": "en", "system_text": "", "template": TEMPLATE, "note": "edited"})
    assert refused.status_code == 403
    assert list(JudgePrompt.objects.order_by("pk").values()) == before


@pytest.mark.django_db
def test_the_admin_refuses_an_offline_contender_as_judge(admin_client):
    from battles.models import Contender
    from judges.models import Judge
    from tests.factories import OfflineContenderFactory

    offline = OfflineContenderFactory(name="Imported answers")
    admin_client.cookies["arena_language"] = "en"
    response = admin_client.post(
        "/admin/judges/judge/add/",
        {
            "contender": offline.pk,
            "is_active": "on",
            "judges_voted": "on",
            "ready_share": "0",
            "daily_call_budget": "100",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert (
        "Imported answers has no endpoint to call: only endpoint contenders can judge."
        in response.content.decode()
    )
    assert not Judge.objects.exists() and Contender.objects.count() == 1
