"""Synthetic arenas of realistic size, for benchmarks and load tests (the seed_arena and seed_votes
commands): PostgreSQL only, generated inside the database.

Each INSERT is built from its model (_insert): the columns seeding does not set take the field's
default, so a field added later is filled, and one without a default fails seeding at once, naming
it (tests/battles/test_seeded_rows.py seeds: a test fails, not a benchmark run months later).

Contenders get hidden strengths (Elo-like, evenly spread); pairs are drawn with a skew (popular
contenders battle far more often, as in public arenas); outcomes follow the strengths, with ties
and "both are bad" mixed in. The random sequence is fixed by `seed`.

The contenders and questions are stored with origin "seeded", which keeps them out of voters'
battles unless ARENA_SERVE_SEEDED is on. The votes are written directly, not through the vote
service: the pair counters and Elo do not see them until ratings_rebuild runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from battles.models import Answer, Battle, Category, Contender, Question, Vote, Voter

SEED_PREFIX = "seed-"


class SeedingRefused(Exception):
    """Seeding cannot run on this database; nothing was written."""


@dataclass(frozen=True)
class SeedReport:
    contenders: int
    questions: int
    voters: int
    voted_battles: int
    open_battles: int
    votes_without_battle: int


def seeded_serving_note() -> str:
    """What becomes of the seeded rows for voters, as the seeding commands tell it."""
    if settings.ARENA_SERVE_SEEDED:
        return "ARENA_SERVE_SEEDED is on: voters are served battles with the seeded contenders and questions"
    return (
        'the seeded contenders and questions are marked "seeded" and are not drawn into voters\' battles '
        "while ARENA_SERVE_SEEDED is off (set it to true to serve them, e.g. for a load test)"
    )


def _execute(sql: str, parameters: dict[str, Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)


def arena_seed(
    *,
    contenders: int = 20,
    questions: int = 2000,
    voters: int = 100_000,
    voted_battles: int = 0,
    open_battles: int = 0,
    votes_without_battle: int = 0,
    seed: float = 0.42,
) -> SeedReport:
    """Add seeded contenders (offline), questions with an answer from each, voters, voted battles
    (each with its vote), open (ready) battles, and votes without a battle (like imported logs).

    Runs once per database: the seeded names and ids are fixed, so a second run is refused.
    """
    if connection.vendor != "postgresql":
        raise SeedingRefused(
            "seeding generates its data inside PostgreSQL; set DATABASE_URL to a PostgreSQL database"
        )
    parameters: dict[str, Any] = {
        "contenders": contenders,
        "questions": questions,
        "voters": voters,
        "voted": voted_battles,
        "open": open_battles,
        "loose": votes_without_battle,
        "seed": seed,
        "prefix": SEED_PREFIX,
    }
    try:
        _seed(parameters)
    except IntegrityError as error:
        raise SeedingRefused(
            f"this database already holds seeded contenders or questions ({SEED_PREFIX}model-..., "
            f"{SEED_PREFIX}q-...): seeding runs once per database; nothing was written"
        ) from error
    _execute("ANALYZE")
    return SeedReport(contenders, questions, voters, voted_battles, open_battles, votes_without_battle)


def seeded_default(model: type[models.Model], field: models.Field[Any, Any]) -> Any:
    """The value a row gets for a field seeding does not set: what Django would store."""
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return timezone.now()
    if field.has_default():
        return field.get_db_prep_save(field.get_default(), connection)
    if field.null:
        return None
    if field.empty_strings_allowed:
        return ""
    raise SeedingRefused(
        f"seeding sets no value for {model.__name__}.{field.name}, which has no default: "
        "give it one in battles/management/seeding.py"
    )


def _insert(
    model: type[models.Model], values: dict[str, str], source: str, parameters: dict[str, Any]
) -> None:
    """INSERT INTO the model's table every column: `values` (SQL, by field name) for some, the field's
    default for the others, one row per row of `source` (the FROM … part)."""
    columns, expressions = [], []
    given = dict(parameters)
    for field in model._meta.concrete_fields:
        if field.name in values:
            expression = values[field.name]
        elif field.primary_key:
            continue  # a serial id
        else:
            given[f"default_{field.column}"] = seeded_default(model, field)
            expression = f"%(default_{field.column})s"
        columns.append(connection.ops.quote_name(field.column))
        expressions.append(expression)
    table = connection.ops.quote_name(model._meta.db_table)
    _execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(expressions)} {source}", given)


def _seed(parameters: dict[str, Any]) -> None:
    with transaction.atomic():
        _execute("SELECT setseed(%(seed)s)", parameters)
        _rows_seed(parameters)
        _pairs_draw(parameters)
        _battles_and_votes_seed(parameters)


def _rows_seed(parameters: dict[str, Any]) -> None:
    """Categories, contenders, questions, an answer of each contender to each question, voters."""
    _insert(
        Category,
        {"code": "%(prefix)s || g", "name": "'Seed category ' || g"},
        "FROM generate_series(1, 10) g ON CONFLICT (code) DO NOTHING",
        parameters,
    )
    _insert(
        Contender,
        {
            "name": "%(prefix)s || 'model-' || lpad(g::text, 4, '0')",
            "kind": "'offline'",
            "description": "'synthetic'",
            "origin": "'seeded'",
        },
        "FROM generate_series(1, %(contenders)s) g",
        parameters,
    )
    _insert(
        Question,
        {
            "external_id": "%(prefix)s || 'q-' || g",
            "text": "'Seed question ' || g || '?'",
            "text_sha256": "encode(sha256(convert_to('Seed question ' || g || '?', 'UTF8')), 'hex')",
            "category": "(SELECT id FROM battles_category WHERE code = %(prefix)s || (1 + g %% 10))",
            "language": "'en'",
            "source": "'seed'",
            "origin": "'seeded'",
        },
        "FROM generate_series(1, %(questions)s) g",
        parameters,
    )
    _execute(
        """CREATE TEMP TABLE seed_contender ON COMMIT DROP AS
           SELECT row_number() OVER (ORDER BY id) - 1 AS position, id FROM battles_contender
           WHERE name LIKE %(prefix)s || 'model-%%'""",
        parameters,
    )
    _execute(
        """CREATE TEMP TABLE seed_question ON COMMIT DROP AS
           SELECT row_number() OVER (ORDER BY id) - 1 AS position, id, category_id FROM battles_question
           WHERE external_id LIKE %(prefix)s || 'q-%%'""",
        parameters,
    )
    _insert(
        Answer,
        {
            "question": "q.id",
            "contender": "c.id",
            "status": "'done'",
            "text": "'Answer of ' || c.position || ' to ' || q.position",
            "html": "'<p>Answer of ' || c.position || ' to ' || q.position || '</p>'",
            # Style features of a varied arena (length 100-1,599, up to 5 headers, 11 list items and
            # 7 bold spans), fixed by the question and the contender.
            "style_length": "100 + abs(hashtext('length' || q.id || '-' || c.id)) %% 1500",
            "style_headers": "abs(hashtext('headers' || q.id || '-' || c.id)) %% 6",
            "style_lists": "abs(hashtext('lists' || q.id || '-' || c.id)) %% 12",
            "style_bold": "abs(hashtext('bold' || q.id || '-' || c.id)) %% 8",
            "finish_reason": "'stop'",
            "attempts": "1",
            "source": "'seed'",
            "finished_at": "now() - make_interval(days => 30)",  # imported long ago
        },
        "FROM seed_question q CROSS JOIN seed_contender c",
        parameters,
    )
    _insert(Voter, {"id": "gen_random_uuid()"}, "FROM generate_series(1, %(voters)s)", parameters)
    _execute(
        """CREATE TEMP TABLE seed_voter ON COMMIT DROP AS
           SELECT row_number() OVER (ORDER BY created_at, id) - 1 AS position, id FROM battles_voter
           ORDER BY created_at DESC, id LIMIT %(voters)s""",
        parameters,
    )


def _pairs_draw(parameters: dict[str, Any]) -> None:
    """The draws: pair, question, voter and outcome of each battle and vote."""
    # A skewed towards popular (low) positions, B any other contender.
    _execute(
        """CREATE TEMP TABLE seed_pair ON COMMIT DROP AS
           SELECT g AS number, a, (a + 1 + floor(random() * (%(contenders)s - 1))::int) %% %(contenders)s AS b,
               floor(random() * %(questions)s)::int AS question, floor(random() * %(voters)s)::int AS voter,
               random() AS draw
           FROM (SELECT g, floor(%(contenders)s * power(random(), 2))::int AS a
                 FROM generate_series(1, %(voted)s + %(open)s + %(loose)s) g) drawn""",
        parameters,
    )
    # Without statistics the planner joins answers to answers by question alone: billions of rows.
    _execute("ANALYZE seed_contender, seed_question, seed_voter, seed_pair, battles_answer")


_PAIR_JOINS = """FROM seed_pair p
           JOIN seed_contender ca ON ca.position = p.a JOIN seed_contender cb ON cb.position = p.b
           JOIN seed_question q ON q.position = p.question JOIN seed_voter v ON v.position = p.voter"""


def _battles_and_votes_seed(parameters: dict[str, Any]) -> None:
    """Voted and open battles in draw order (the n-th new battle by id is draw n), then the votes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM battles_battle")
        parameters["battles_before"] = cursor.fetchone()[0]
    voted = "p.number <= %(voted)s"
    _insert(
        Battle,
        {
            **{"question": "q.id", "contender_a": "ca.id", "contender_b": "cb.id"},
            **{"answer_a": "aa.id", "answer_b": "ab.id"},
            "status": f"CASE WHEN {voted} THEN 'voted' ELSE 'ready' END",
            "voter": f"CASE WHEN {voted} THEN v.id END",
            "created_at": "now() - make_interval(secs => %(voted)s + %(open)s - p.number + 60)",
            "ready_at": "now() - make_interval(secs => %(voted)s + %(open)s - p.number + 50)",
            "served_at": f"CASE WHEN {voted} THEN now() - make_interval(secs => %(voted)s - p.number + 40) END",
            "voted_at": f"CASE WHEN {voted} THEN now() - make_interval(secs => %(voted)s - p.number + 20) END",
        },
        f"""{_PAIR_JOINS}
           JOIN battles_answer aa ON aa.question_id = q.id AND aa.contender_id = ca.id AND aa.sample_index = 0
           JOIN battles_answer ab ON ab.question_id = q.id AND ab.contender_id = cb.id AND ab.sample_index = 0
           WHERE p.number <= %(voted)s + %(open)s
           ORDER BY p.number""",
        parameters,
    )
    # The new battles' ids follow the sequence, which a flushed database (a test's) does not restart:
    # draw n is the n-th id from the first new one, whatever the largest id before was.
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM battles_battle WHERE id > %s", [parameters["battles_before"]])
        first_new = cursor.fetchone()[0]
    if first_new is not None:
        parameters["battles_before"] = first_new - 1
    # Strength falls evenly from position 0 to the last by 600 points: P(A wins) follows the Elo curve,
    # with 10 %% ties and 5 %% "both are bad".
    cast_at = "coalesce(b.voted_at, now() - make_interval(secs => %(voted)s + %(open)s + %(loose)s - p.number + 3600))"
    _insert(
        Vote,
        {
            **{"battle": "b.id", "voter": "v.id", "contender_a": "ca.id", "contender_b": "cb.id"},
            "category": "q.category_id",
            "outcome": """CASE WHEN p.draw < 0.10 THEN 'tie' WHEN p.draw < 0.15 THEN 'both_bad'
                    WHEN (p.draw - 0.15) / 0.85 < 1 / (1 + power(10, ((p.a - p.b) * 600.0 / %(contenders)s) / 400))
                    THEN 'a' ELSE 'b' END""",
            "created_at": cast_at,
            "decision_ms": "CASE WHEN b.id IS NOT NULL THEN 20000 END",
            "recorded_at": "now()",
            "language": "'en'",
        },
        f"""{_PAIR_JOINS}
           LEFT JOIN battles_battle b ON {voted} AND b.id = %(battles_before)s + p.number
           WHERE {voted} OR p.number > %(voted)s + %(open)s
           ORDER BY {cast_at}""",
        parameters,
    )
