"""Synthetic arenas of realistic size, for benchmarks: PostgreSQL only, generated inside the database.

Contenders get hidden strengths (Elo-like, evenly spread); pairs are drawn with a skew (popular
contenders battle far more often, as in public arenas); outcomes follow the strengths, with ties
and "both are bad" mixed in. The random sequence is fixed by `seed`.

The contenders and questions are stored with origin "seeded", which keeps them out of voters'
battles unless ARENA_SERVE_SEEDED is on. The votes are written directly, not through the vote
service: the pair counters and Elo do not see them until ratings_rebuild runs.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction

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


def _seed(parameters: dict[str, Any]) -> None:
    with transaction.atomic():
        _execute("SELECT setseed(%(seed)s)", parameters)
        _execute(
            """INSERT INTO battles_category (code, name)
               SELECT %(prefix)s || g, 'Seed category ' || g FROM generate_series(1, 10) g
               ON CONFLICT (code) DO NOTHING""",
            parameters,
        )
        _execute(
            """INSERT INTO battles_contender (name, kind, description, is_active, origin, base_url, model_id,
                   api_key_env, system_prompt, extra_parameters, stop, extra_headers, stream, stream_usage,
                   max_concurrent_requests, sampling_weight, samples_per_question, consecutive_failures,
                   paused_reason, probes_failed, flaps, last_error, created_at, updated_at)
               SELECT %(prefix)s || 'model-' || lpad(g::text, 4, '0'), 'offline', 'synthetic', true, 'seeded',
                   '', '', '', '', '{}', '[]', '{}', true, true, 8, 1.0, 1, 0, '', 0, 0, '', now(), now()
               FROM generate_series(1, %(contenders)s) g""",
            parameters,
        )
        _execute(
            """INSERT INTO battles_question (external_id, text, text_sha256, category_id, language, is_active,
                   source, origin, created_at)
               SELECT %(prefix)s || 'q-' || g, 'Seed question ' || g || '?',
                   encode(sha256(convert_to('Seed question ' || g || '?', 'UTF8')), 'hex'),
                   (SELECT id FROM battles_category WHERE code = %(prefix)s || (1 + g %% 10)), 'en', true, 'seed',
                   'seeded', now()
               FROM generate_series(1, %(questions)s) g""",
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
        _execute(
            """INSERT INTO battles_answer (question_id, contender_id, sample_index, status, text, html, reasoning,
                   repairs, error, parameters, finish_reason, is_truncated, attempts, source, created_at, finished_at)
               SELECT q.id, c.id, 0, 'done', 'Answer of ' || c.position || ' to ' || q.position,
                   '<p>Answer of ' || c.position || ' to ' || q.position || '</p>', '', '', '', '{}', 'stop', false, 1,
                   'seed', now(), now()
               FROM seed_question q CROSS JOIN seed_contender c"""
        )
        _execute(
            """INSERT INTO battles_voter (id, created_at, last_seen_at)
               SELECT gen_random_uuid(), now(), now() FROM generate_series(1, %(voters)s)""",
            parameters,
        )
        _execute(
            """CREATE TEMP TABLE seed_voter ON COMMIT DROP AS
               SELECT row_number() OVER (ORDER BY created_at, id) - 1 AS position, id FROM battles_voter
               ORDER BY created_at DESC, id LIMIT %(voters)s""",
            parameters,
        )
        # Pairs: A skewed towards popular (low) positions, B any other contender.
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
        with connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM battles_battle")
            battles_before = cursor.fetchone()[0]
        parameters["battles_before"] = battles_before
        # Inserted in draw order, so the n-th new battle (by id) is draw number n.
        _execute(
            """INSERT INTO battles_battle (question_id, contender_a_id, contender_b_id, answer_a_id, answer_b_id,
                   status, voter_id, holder_ip_hash, retired_reason, created_at, ready_at, served_at, voted_at)
               SELECT q.id, ca.id, cb.id, aa.id, ab.id,
                   CASE WHEN p.number <= %(voted)s THEN 'voted' ELSE 'ready' END,
                   CASE WHEN p.number <= %(voted)s THEN v.id END, '', '',
                   now() - make_interval(secs => %(voted)s + %(open)s - p.number + 60),
                   now() - make_interval(secs => %(voted)s + %(open)s - p.number + 50),
                   CASE WHEN p.number <= %(voted)s THEN now() - make_interval(secs => %(voted)s - p.number + 40) END,
                   CASE WHEN p.number <= %(voted)s THEN now() - make_interval(secs => %(voted)s - p.number + 20) END
               FROM seed_pair p
               JOIN seed_contender ca ON ca.position = p.a JOIN seed_contender cb ON cb.position = p.b
               JOIN seed_question q ON q.position = p.question JOIN seed_voter v ON v.position = p.voter
               JOIN battles_answer aa ON aa.question_id = q.id AND aa.contender_id = ca.id AND aa.sample_index = 0
               JOIN battles_answer ab ON ab.question_id = q.id AND ab.contender_id = cb.id AND ab.sample_index = 0
               WHERE p.number <= %(voted)s + %(open)s
               ORDER BY p.number""",
            parameters,
        )
        # Strength falls evenly from position 0 to the last by 600 points: P(A wins) follows the Elo curve,
        # with 10 %% ties and 5 %% "both are bad".
        _execute(
            """INSERT INTO battles_vote (battle_id, voter_id, contender_a_id, contender_b_id, category_id, outcome,
                   created_at, decision_ms, ip_hash, reason, recorded_at, language)
               SELECT b.id, v.id, ca.id, cb.id, q.category_id,
                   CASE WHEN p.draw < 0.10 THEN 'tie' WHEN p.draw < 0.15 THEN 'both_bad'
                        WHEN (p.draw - 0.15) / 0.85 < 1 / (1 + power(10, ((p.a - p.b) * 600.0 / %(contenders)s) / 400))
                        THEN 'a' ELSE 'b' END,
                   coalesce(b.voted_at, now() - make_interval(secs => %(voted)s + %(open)s + %(loose)s - p.number + 3600)),
                   CASE WHEN b.id IS NOT NULL THEN 20000 END, '', '', now(), 'en'
               FROM seed_pair p
               JOIN seed_contender ca ON ca.position = p.a JOIN seed_contender cb ON cb.position = p.b
               JOIN seed_question q ON q.position = p.question JOIN seed_voter v ON v.position = p.voter
               LEFT JOIN battles_battle b ON p.number <= %(voted)s AND b.id = %(battles_before)s + p.number
               WHERE p.number <= %(voted)s OR p.number > %(voted)s + %(open)s
               ORDER BY coalesce(b.voted_at, now() - make_interval(secs => %(voted)s + %(open)s + %(loose)s - p.number + 3600))""",
            parameters,
        )
