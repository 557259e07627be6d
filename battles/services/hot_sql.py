"""The columns and joins of the hand-written SQL that serves battles and records votes
(battles/services/serving.py and voting.py)."""

from arena.rows import Columns
from battles.models import Answer, AnswerRead, Battle, Category, Contender, Question, Vote, Voter

# Serving and voting are the arena's hot path (a launch-day spike is hundreds of votes a second):
# they run hand-written SQL, a few statements each, instead of ORM queries compiled on every request.
BATTLE = Columns(Battle, "b")
QUESTION = Columns(Question, "q")
CATEGORY = Columns(Category, "c")
# What a battle page shows of an answer; the rest (parameters, timings...) is read if ever asked for.
SHOWN_ANSWER_FIELDS = ["id", "question", "contender", "sample_index", "status", "text", "html"]
ANSWER_A = Columns(Answer, "aa", SHOWN_ANSWER_FIELDS)
ANSWER_B = Columns(Answer, "ab", SHOWN_ANSWER_FIELDS)
VOTER = Columns(Voter, "v")
VOTE_TIME = Columns(Vote, "stored", ["created_at"])
BATTLES, QUESTIONS, VOTES = Battle._meta.db_table, Question._meta.db_table, Vote._meta.db_table
CATEGORIES, ANSWERS, CONTENDERS = (
    Category._meta.db_table,
    Answer._meta.db_table,
    Contender._meta.db_table,
)


SHOWN_COLUMNS = f"{BATTLE.sql}, {QUESTION.sql}, {CATEGORY.sql}, {ANSWER_A.sql}, {ANSWER_B.sql}"


def shown_joined(battles: str) -> str:
    """`battles` (a table, or a WITH query of its columns) as b, with what a battle page shows of them."""
    return (
        f"{battles} b JOIN {QUESTIONS} q ON q.id = b.question_id JOIN {CATEGORIES} c ON c.id = q.category_id "
        f"JOIN {ANSWERS} aa ON aa.id = b.answer_a_id JOIN {ANSWERS} ab ON ab.id = b.answer_b_id"
    )


def shown_from(battles: str) -> str:
    return f"SELECT {SHOWN_COLUMNS} FROM {shown_joined(battles)}"


BATTLES_SHOWN = shown_from(BATTLES)
BATTLE_COLUMNS = ", ".join(f'"{field.column}"' for field in BATTLE.fields)
VOTE_COLUMNS = [
    *["battle_id", "voter_id", "contender_a_id", "contender_b_id", "category_id", "outcome"],
    *["created_at", "decision_ms", "ip_hash", "reason", "recorded_at", "external_id", "language"],
]
# Statuses are written into the statements, not passed as values: a prepared statement's one plan can
# then use the partial indexes on status (the pool's, the holds').
GENERATING, READY = f"'{Battle.Status.GENERATING}'", f"'{Battle.Status.READY}'"
SERVED, VOTED = f"'{Battle.Status.SERVED}'", f"'{Battle.Status.VOTED}'"
READS = AnswerRead._meta.db_table
# The answers whose model a voter saw (revealed after their vote, or read in browse mode), with the
# voter as each of its three parameters.
REVEALED = (
    f"(SELECT s.answer_a_id FROM {BATTLES} s WHERE s.voter_id = %s AND s.status = {VOTED} "
    f"UNION ALL SELECT s.answer_b_id FROM {BATTLES} s WHERE s.voter_id = %s AND s.status = {VOTED} "
    f"UNION ALL SELECT r.answer_id FROM {READS} r WHERE r.voter_id = %s)"
)
