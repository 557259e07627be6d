"""The question bank: the text key that keeps one question from being stored twice, and imports.

Imports take what the parsers in battles.importers read from JSONL, CSV and the seed projects'
markdown, and write questions, categories, offline contenders and their answers.
A question is one question whatever file names it: its whitespace-normalised text is the key, and
ids are names for it. Real data supersedes demo and seeded data (see bank_import).
"""

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from battles.importers import files_to_import, parse_file
from battles.importers.records import AnswerRecord, ImportRejected, ParsedBank, QuestionRecord
from battles.models import Answer, Category, Contender, Origin, Question, question_text_sha256
from battles.rendering import render_markdown
from battles.services.contenders import (
    ContenderNameTaken,
    contender_names_check_offline,
    contender_offline_get_or_create,
)
from battles.services.leaks import answer_leaks, leak_matcher
from battles.services.style import answer_style_fields

# Rows per INSERT: large enough that 1,440 answers take three statements.
_BATCH_SIZE = 500


@dataclass(frozen=True)
class BankImportReport:
    """What one file added; "existing" counts what the database already held and was left as it was."""

    path: Path
    questions_created: int
    questions_existing: int
    categories_created: int
    contenders_created: int
    answers_created: int
    answers_existing: int
    notices: list[str]


def _max_length(model: type[models.Model], field_name: str) -> int:
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.Field)
    assert field.max_length is not None
    return field.max_length


def _chunks(values: list[str], size: int = 1000) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass(frozen=True)
class _GivenId:
    """Where a file of the current import run gave an id to a question text."""

    text_sha256: str
    path: Path
    line: int


@dataclass(frozen=True)
class _Takeover:
    """A stored demo or seeded question that becomes the question a real file's record describes."""

    question: Question
    record: QuestionRecord
    external_id: str | None


class _BankImport:
    """One file's import. Everything that could reject the file is checked before the first write."""

    def __init__(self, parsed: ParsedBank, origin: Origin, ids_given_in_run: dict[str, _GivenId]) -> None:
        self.parsed = parsed
        self.origin = origin
        # Ids that earlier files of the same run gave to question texts; this file's are added on success.
        self.ids_given_in_run = ids_given_in_run
        self.notices = list(parsed.notices)
        # The first record of each distinct question text, by text_sha256, in file order.
        self.records_by_sha: dict[str, QuestionRecord] = {}
        self.sha_by_external_id: dict[str, str] = {}
        # The id a question takes: the first its text is given in the file, on whichever line.
        self.external_id_by_sha: dict[str, str] = {}
        self.question_by_sha: dict[str, Question] = {}
        self.first_line_by_model: dict[str, int] = {}
        self.categories: dict[str, Category] = {}
        self.contenders: dict[str, Contender] = {}
        self.takeovers: list[_Takeover] = []

    def reject(self, line: int | None, reason: str) -> ImportRejected:
        return ImportRejected(self.parsed.path, line, reason)

    def check_lengths(self) -> None:
        limits = [
            ("category code", _max_length(Category, "code"), "category_code"),
            ("category name", _max_length(Category, "name"), "category_name"),
            ("question id", _max_length(Question, "external_id"), "external_id"),
            ("language", _max_length(Question, "language"), "language"),
        ]
        for record in self.parsed.questions:
            for label, limit, attribute in limits:
                value = getattr(record, attribute)
                if value is not None and len(value) > limit:
                    raise self.reject(
                        record.line,
                        f"the {label} {value[:40]!r}... is {len(value)} characters long; the most is {limit}",
                    )
        contender_limit = _max_length(Contender, "name")
        for answer in self.parsed.answers:
            if len(answer.model) > contender_limit:
                raise self.reject(
                    answer.line,
                    f"the model name {answer.model[:40]!r}... is {len(answer.model)} characters long; "
                    f"the most is {contender_limit}",
                )

    def collect_questions(self) -> None:
        line_by_external_id: dict[str, int] = {}
        for record in self.parsed.questions:
            sha = question_text_sha256(record.text)
            first = self.records_by_sha.setdefault(sha, record)
            if first is not record:
                self.notices.append(
                    f"line {record.line}: the same question as line {first.line}; imported once"
                )
            if record.external_id is None:
                continue
            known_sha = self.sha_by_external_id.setdefault(record.external_id, sha)
            if known_sha != sha:
                raise self.reject(
                    record.line,
                    f'the id "{record.external_id}" is already used at line '
                    f"{line_by_external_id[record.external_id]} for a different question",
                )
            given = self.ids_given_in_run.get(record.external_id)
            if given is not None and given.text_sha256 != sha:
                raise self.reject(
                    record.line,
                    f'the id "{record.external_id}" is given to a different question at '
                    f"{given.path}:{given.line}",
                )
            line_by_external_id.setdefault(record.external_id, record.line)
            self.external_id_by_sha.setdefault(sha, record.external_id)

    def load_existing_questions(self) -> None:
        for shas in _chunks(list(self.records_by_sha)):
            for question in Question.objects.filter(text_sha256__in=shas).select_related("category"):
                self.question_by_sha[question.text_sha256] = question

    def check_stored_questions(self) -> list[tuple[int, str]]:
        """Reject ids that name another stored question; return (pk, id) of stored questions that lack one.

        A real import takes over stored demo and seeded questions of the same text (see _Takeover).
        Other stored questions are never changed otherwise; where the file disagrees, a notice says so.
        """
        owners: dict[str, Question] = {}
        for external_ids in _chunks(list(self.sha_by_external_id)):
            owners.update(
                (question.external_id, question)
                for question in Question.objects.filter(external_id__in=external_ids)
                if question.external_id is not None
            )
        ids_to_set: list[tuple[int, str]] = []
        for sha, record in self.records_by_sha.items():
            external_id = self.external_id_by_sha.get(sha)
            owner = owners.get(external_id) if external_id is not None else None
            if owner is not None and owner.text_sha256 != sha:
                raise self.reject(
                    record.line,
                    f'the id "{external_id}" already belongs to another question in the database '
                    f'(#{owner.pk}: "{owner.text[:60]}")',
                )
            existing = self.question_by_sha.get(sha)
            if existing is None:
                continue
            if self.origin == Origin.REAL and existing.origin != Origin.REAL:
                self.takeovers.append(_Takeover(existing, record, external_id))
                name = (
                    f'#{existing.pk} ("{existing.external_id}")'
                    if existing.external_id
                    else f"#{existing.pk}"
                )
                self.notices.append(
                    f"line {record.line}: the {existing.origin} question {name} has the same text; it is now "
                    "this file's question, with its id, category and source"
                )
                continue
            if existing.category.code != record.category_code:
                self.notices.append(
                    f"line {record.line}: this question is already stored in category "
                    f"{existing.category.code}; kept it there, not in {record.category_code}"
                )
            if external_id is None:
                continue
            if existing.external_id is None:
                ids_to_set.append((existing.pk, external_id))
            elif existing.external_id != external_id:
                self.notices.append(
                    f"line {record.line}: this question is already stored with the id "
                    f'"{existing.external_id}"; kept that id, and answers in this import may name it '
                    f'"{external_id}" too'
                )
        return ids_to_set

    def check_contender_names(self) -> list[str]:
        first_line_by_model = self.first_line_by_model
        for answer in self.parsed.answers:
            first_line_by_model.setdefault(answer.model, answer.line)
        try:
            contender_names_check_offline(names=list(first_line_by_model))
        except ContenderNameTaken as clash:
            raise self._name_taken(clash) from None
        return list(first_line_by_model)

    def _name_taken(self, clash: ContenderNameTaken) -> ImportRejected:
        return self.reject(self.first_line_by_model[clash.name], clash.reason(imported="these answers"))

    def resolve_answer_questions(self) -> list[tuple[AnswerRecord, str]]:
        """Each answer with the text_sha256 of its question; rejects answers whose question is nowhere.

        An id names the question this file gives it to, else the one an earlier file of the run gave
        it to, else the stored question that has it.
        """
        sha_by_run_id = {
            external_id: given.text_sha256
            for external_id, given in self.ids_given_in_run.items()
            if external_id not in self.sha_by_external_id
        }
        answer_ids = {
            a.question_external_id for a in self.parsed.answers if a.question_external_id is not None
        }
        unknown_ids = sorted(answer_ids - set(self.sha_by_external_id) - set(sha_by_run_id))
        sha_by_stored_id: dict[str, str] = {}
        for external_ids in _chunks(unknown_ids):
            for question in Question.objects.filter(external_id__in=external_ids):
                assert question.external_id is not None
                sha_by_stored_id[question.external_id] = question.text_sha256
                self.question_by_sha.setdefault(question.text_sha256, question)
        wanted = {
            question_text_sha256(a.question_text) for a in self.parsed.answers if a.question_text is not None
        }
        wanted |= {sha_by_run_id[external_id] for external_id in answer_ids if external_id in sha_by_run_id}
        texts_not_in_file = sorted(wanted - set(self.records_by_sha))
        for shas in _chunks(texts_not_in_file):
            for question in Question.objects.filter(text_sha256__in=shas):
                self.question_by_sha.setdefault(question.text_sha256, question)
        resolved: list[tuple[AnswerRecord, str]] = []
        for answer in self.parsed.answers:
            if answer.question_external_id is not None:
                sha = (
                    self.sha_by_external_id.get(answer.question_external_id)
                    or sha_by_run_id.get(answer.question_external_id)
                    or sha_by_stored_id.get(answer.question_external_id)
                )
                if sha is None:
                    raise self.reject(
                        answer.line,
                        f'the answer is to question id "{answer.question_external_id}", which no file of '
                        "this import gives and no stored question has; import the questions first",
                    )
            else:
                assert answer.question_text is not None
                sha = question_text_sha256(answer.question_text)
                if sha not in self.records_by_sha and sha not in self.question_by_sha:
                    raise self.reject(
                        answer.line,
                        f'the answer is to the question "{answer.question_text[:60]}", which is neither '
                        "in this file nor in the database",
                    )
            resolved.append((answer, sha))
        return resolved

    def write_categories(self) -> int:
        created_count = 0
        taken_over = {takeover.question.text_sha256 for takeover in self.takeovers}
        for sha, record in self.records_by_sha.items():
            kept_as_stored = sha in self.question_by_sha and sha not in taken_over
            if kept_as_stored or record.category_code in self.categories:
                continue
            category, created = Category.objects.get_or_create(
                code=record.category_code,
                defaults={"name": record.category_name, "name_en": record.category_name_en},
            )
            if not created and record.category_name_en and not category.name_en:
                # A file that gives the English name fills it in; one that names it is not overridden.
                category.name_en = record.category_name_en
                category.save(update_fields=["name_en"])
            self.categories[record.category_code] = category
            created_count += created
        return created_count

    def write_questions(self) -> int:
        new = {sha: record for sha, record in self.records_by_sha.items() if sha not in self.question_by_sha}
        for sha, record in self.records_by_sha.items():
            stored = self.question_by_sha.get(sha)
            if stored is not None and record.text_en and not stored.text_en:
                # A file that gives a stored question's translation fills it in; one already there stays.
                Question.objects.filter(pk=stored.pk, text_en="").update(text_en=record.text_en)
        source_limit = _max_length(Question, "source")
        # ON CONFLICT DO NOTHING: a question another import stored meanwhile is simply found below.
        Question.objects.bulk_create(
            [
                Question(
                    text=record.text,
                    text_en=record.text_en,
                    text_sha256=sha,
                    external_id=self.external_id_by_sha.get(sha),
                    category=self.categories[record.category_code],
                    language=record.language,
                    is_active=record.is_active,
                    source=record.source[:source_limit],
                    origin=self.origin,
                )
                for sha, record in new.items()
            ],
            batch_size=_BATCH_SIZE,
            ignore_conflicts=True,
        )
        for shas in _chunks(list(new)):
            for question in Question.objects.filter(text_sha256__in=shas):
                self.question_by_sha[question.text_sha256] = question
        for sha, record in new.items():
            if sha not in self.question_by_sha:
                raise self.reject(
                    record.line,
                    f'the id "{self.external_id_by_sha.get(sha)}" was taken by another import running at '
                    "the same time; nothing from this file was written, run the import again",
                )
        return len(new)

    def write_takeovers(self) -> None:
        source_limit = _max_length(Question, "source")
        for takeover in self.takeovers:
            record = takeover.record
            Question.objects.filter(pk=takeover.question.pk).update(
                text=record.text,
                external_id=takeover.external_id,
                category=self.categories[record.category_code],
                language=record.language,
                source=record.source[:source_limit],
                origin=Origin.REAL,
            )

    def write_contenders(self, names: list[str]) -> int:
        created_count = 0
        for name in names:
            try:
                contender, created = contender_offline_get_or_create(
                    name=name, description=f"Answers imported from {self.parsed.path.name}."
                )
            except ContenderNameTaken as clash:  # an endpoint contender registered meanwhile
                raise self._name_taken(clash) from None
            self.contenders[name] = contender
            created_count += created
        return created_count

    def write_answers(self, resolved: list[tuple[AnswerRecord, str]]) -> tuple[int, int]:
        question_ids = sorted({self.question_by_sha[sha].pk for _, sha in resolved})
        contender_ids = [contender.pk for contender in self.contenders.values()]
        stored_texts: dict[tuple[int, int], set[str]] = defaultdict(set)
        next_sample_index: dict[tuple[int, int], int] = defaultdict(int)
        for start in range(0, len(question_ids), 1000):
            stored = Answer.objects.filter(
                question_id__in=question_ids[start : start + 1000], contender_id__in=contender_ids
            ).values_list("question_id", "contender_id", "sample_index", "text")
            for question_id, contender_id, sample_index, text in stored:
                stored_texts[question_id, contender_id].add(text)
                next_sample_index[question_id, contender_id] = max(
                    next_sample_index[question_id, contender_id], sample_index + 1
                )
        finished_at = timezone.now()
        source_limit = _max_length(Answer, "source")
        matcher = leak_matcher()  # after the file's contenders exist: their aliases count too
        new: list[Answer] = []
        existing_count = 0
        for answer, sha in resolved:
            key = (self.question_by_sha[sha].pk, self.contenders[answer.model].pk)
            if answer.text in stored_texts[key]:
                existing_count += 1
                continue
            stored_texts[key].add(answer.text)
            new.append(
                Answer(
                    question_id=key[0],
                    contender_id=key[1],
                    sample_index=next_sample_index[key],
                    status=Answer.Status.DONE,
                    text=answer.text,
                    html=render_markdown(answer.text),
                    leaks=answer_leaks(answer.text, matcher),
                    **answer_style_fields(answer.text),
                    source=answer.source[:source_limit],
                    finished_at=finished_at,
                )
            )
            next_sample_index[key] += 1
        # No ignore_conflicts: a sample index taken meanwhile by another import must fail the file.
        Answer.objects.bulk_create(new, batch_size=_BATCH_SIZE)
        return len(new), existing_count

    def run(self) -> BankImportReport:
        self.check_lengths()
        self.collect_questions()
        self.load_existing_questions()
        ids_to_set = self.check_stored_questions()
        model_names = self.check_contender_names()
        resolved = self.resolve_answer_questions()

        categories_created = self.write_categories()
        self.write_takeovers()
        questions_created = self.write_questions()
        for pk, external_id in ids_to_set:
            Question.objects.filter(pk=pk, external_id__isnull=True).update(external_id=external_id)
        if ids_to_set:
            self.notices.append(
                f"stored questions that had no id took the one this file gives them: {len(ids_to_set)}"
            )
        contenders_created = self.write_contenders(model_names)
        answers_created, answers_existing = self.write_answers(resolved)
        for external_id, sha in self.sha_by_external_id.items():
            record = self.records_by_sha[sha]
            self.ids_given_in_run.setdefault(external_id, _GivenId(sha, self.parsed.path, record.line))
        return BankImportReport(
            path=self.parsed.path,
            questions_created=questions_created,
            questions_existing=len(self.records_by_sha) - questions_created,
            categories_created=categories_created,
            contenders_created=contenders_created,
            answers_created=answers_created,
            answers_existing=answers_existing,
            notices=self.notices,
        )


def bank_import(
    *, parsed: ParsedBank, origin: Origin = Origin.REAL, ids_given_in_run: dict[str, _GivenId] | None = None
) -> BankImportReport:
    """Write one parsed file in one transaction: all of it, or (on ImportRejected) none of it.

    Questions are matched by their whitespace-normalised text; new ones are stored with `origin`.
    A stored real question is never changed, except that one without an external id takes the one
    the file gives it. A stored demo or seeded question, imported as real, becomes the file's: it
    takes the file's id, category, language, source and exact text, and keeps its answers, battles,
    votes and whether it is active. Answers go to offline contenders (created by name); an answer
    whose text that contender already has for that question is skipped, any other becomes the next
    sample. Answers may name a question by any id that this file or an earlier file of the run
    (`ids_given_in_run`) gives it, or by its stored id.
    """
    try:
        with transaction.atomic():
            return _BankImport(parsed, origin, {} if ids_given_in_run is None else ids_given_in_run).run()
    except IntegrityError as error:
        detail = str(error).strip().splitlines()[0]
        raise ImportRejected(
            parsed.path,
            None,
            "the database refused a row, most likely because another import wrote the same rows at the same "
            f"time; nothing from this file was written, run the import again ({detail})",
        ) from error


def _renamed(parsed: ParsedBank, model_names: Mapping[str, str]) -> ParsedBank:
    answers = [
        replace(answer, model=model_names.get(answer.model, answer.model)) for answer in parsed.answers
    ]
    return replace(parsed, answers=answers)


def bank_import_paths(
    *,
    paths: list[Path],
    dry_run: bool = False,
    model_names: Mapping[str, str] | None = None,
    origin: Origin = Origin.REAL,
) -> list[BankImportReport]:
    """Import files and directories all or nothing: one rejected file and nothing at all is written.

    Every file is parsed before anything is written, so a malformed file is reported without
    touching the database; the imports then run in one transaction, so a file the service rejects
    (an unknown question id, a model named like an endpoint contender) rolls back the files before
    it too. Files that hold questions are imported before files that hold only answers, so
    answers.jsonl may be named (or sorted) before the questions.jsonl it refers to. With dry_run,
    the same work is done and then rolled back: the reports say what would have been written.
    model_names renames models as they are read (e.g. a table's "Plus-7B" to the full name another
    file uses), so one model's answers from several sources land on one contender. `origin` is
    that of new questions: the demo loader imports its bank as demo.
    """
    parsed_files = [_renamed(parse_file(path), model_names or {}) for path in files_to_import(paths)]
    parsed_files.sort(key=lambda parsed: not parsed.questions and bool(parsed.answers))
    ids_given_in_run: dict[str, _GivenId] = {}
    with transaction.atomic():
        reports = [
            bank_import(parsed=parsed, origin=origin, ids_given_in_run=ids_given_in_run)
            for parsed in parsed_files
        ]
        if dry_run:
            transaction.set_rollback(True)
    return reports
