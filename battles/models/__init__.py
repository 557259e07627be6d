"""The battles app's tables, one module per part of the arena."""

from battles.models.answers import Answer, AnswerAttempt
from battles.models.bank import Category, Question, normalise_question_text, question_text_sha256
from battles.models.browse import AnswerRead, BrowseVerdict
from battles.models.common import (
    MAX_REQUEST_TIMEOUT_SECONDS,
    ORIGIN_HELP_TEXT,
    SECRET_VARIABLE_PATTERN,
    SEED_RANGE,
    Origin,
    http_url_validator,
    secret_variable_validator,
    validate_json_object,
    validate_text_list,
    validate_text_object,
)
from battles.models.contenders import IN_THE_DRAW, Contender
from battles.models.integrity import IntegritySweep
from battles.models.tallies import LATENCY_BUCKETS_SECONDS, ContenderLatency, QuestionVotes, VoteDay, VoteHour
from battles.models.votes import Battle, Vote, Voter

__all__ = [
    "IN_THE_DRAW",
    "LATENCY_BUCKETS_SECONDS",
    "MAX_REQUEST_TIMEOUT_SECONDS",
    "ORIGIN_HELP_TEXT",
    "SECRET_VARIABLE_PATTERN",
    "SEED_RANGE",
    "Answer",
    "AnswerAttempt",
    "AnswerRead",
    "Battle",
    "BrowseVerdict",
    "Category",
    "Contender",
    "ContenderLatency",
    "IntegritySweep",
    "Origin",
    "Question",
    "QuestionVotes",
    "Vote",
    "VoteDay",
    "VoteHour",
    "Voter",
    "http_url_validator",
    "normalise_question_text",
    "question_text_sha256",
    "secret_variable_validator",
    "validate_json_object",
    "validate_text_list",
    "validate_text_object",
]
