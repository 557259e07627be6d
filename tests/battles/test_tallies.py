"""Votes counted by hour and day for the staff dashboard: recounted from the votes until final,
final rows never change, a final day's votes per question are added once, refused votes are
counted by reason, and nothing is lost when Redis is away."""

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from battles.models import Battle, QuestionVotes, VoteDay, VoteHour, Voter
from battles.services.tallies import vote_rejection_count, votes_tally
from tests.factories import BattleFactory, QuestionFactory, VoteFactory

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 3, 10, 30, tzinfo=dt.UTC)


def voted(
    *, at: dt.datetime, question, voter: Voter | None, decision_ms: int | None = 5_000, ip_hash: str = ""
):
    voter = voter or Voter.objects.create()
    battle = BattleFactory(
        question=question, status=Battle.Status.VOTED, voter=voter, served_at=at - dt.timedelta(seconds=20)
    )
    return VoteFactory(
        battle=battle,
        voter=voter,
        contender_a=battle.contender_a,
        contender_b=battle.contender_b,
        created_at=at,
        decision_ms=decision_ms,
        ip_hash=ip_hash,
    )


def test_hours_and_days_are_counted_from_the_votes_and_final_days_add_their_questions_once():
    first, second = QuestionFactory(), QuestionFactory()
    old_voter = Voter.objects.create()
    Voter.objects.filter(pk=old_voter.pk).update(created_at=NOW - dt.timedelta(days=30))
    new_voter = Voter.objects.create()
    Voter.objects.filter(pk=new_voter.pk).update(created_at=NOW.replace(hour=9))
    yesterday = NOW - dt.timedelta(days=1)
    voted(at=yesterday, question=first, voter=old_voter, decision_ms=2_000, ip_hash="aaa")
    voted(at=yesterday + dt.timedelta(minutes=5), question=second, voter=old_voter, ip_hash="aaa")
    voted(
        at=NOW.replace(hour=9, minute=10), question=first, voter=new_voter, decision_ms=700_000, ip_hash="bbb"
    )
    voted(
        at=NOW.replace(hour=10, minute=5), question=first, voter=old_voter, decision_ms=12_000, ip_hash="bbb"
    )
    voted(
        at=NOW.replace(hour=10, minute=6), question=first, voter=old_voter, decision_ms=12_500, ip_hash="bbb"
    )

    report = votes_tally(now=NOW)

    hours = {row.hour: row for row in VoteHour.objects.all()}
    nine, ten = NOW.replace(hour=9, minute=0), NOW.replace(hour=10, minute=0)
    assert (hours[nine].votes, hours[nine].decisions, hours[nine].is_final) == (1, {"600+": 1}, True)
    assert (hours[ten].votes, hours[ten].decisions, hours[ten].is_final) == (2, {"10-30": 2}, False)
    assert hours[yesterday.replace(minute=0)].decisions == {"0-3": 1, "3-10": 1}
    assert len(report.hours_counted) == 72 and sum(row.votes for row in hours.values()) == 5

    before, today = VoteDay.objects.get(day=yesterday.date()), VoteDay.objects.get(day=NOW.date())
    assert (before.votes, before.voters_new, before.voters_returning, before.is_final) == (2, 0, 1, True)
    assert before.votes_per_voter == {"1": 0, "2-5": 1, "6-20": 0, "21-100": 0, "101+": 0}
    assert before.top_ip_hashes == [["aaa", 2]]
    assert (today.votes, today.voters_new, today.voters_returning, today.is_final) == (3, 1, 1, False)
    assert today.top_ip_hashes == [["bbb", 3]]
    assert today.questions == {str(first.pk): 3}
    # Only the final day is in the totals; counting again adds nothing twice.
    assert dict(QuestionVotes.objects.values_list("question_id", "votes")) == {first.pk: 1, second.pk: 1}
    again = votes_tally(now=NOW)
    assert again.days_counted == [NOW.date()] and again.days_final == []
    assert dict(QuestionVotes.objects.values_list("question_id", "votes")) == {first.pk: 1, second.pk: 1}
    # The next day, today is final: its votes join the totals, once.
    votes_tally(now=NOW + dt.timedelta(days=1))
    votes_tally(now=NOW + dt.timedelta(days=1, minutes=1))
    assert dict(QuestionVotes.objects.values_list("question_id", "votes")) == {first.pk: 4, second.pk: 1}
    assert VoteDay.objects.get(day=NOW.date()).is_final


def test_a_final_hour_is_not_recounted():
    question = QuestionFactory()
    voted(at=NOW.replace(hour=8, minute=1), question=question, voter=None)
    votes_tally(now=NOW)
    VoteHour.objects.filter(hour=NOW.replace(hour=8, minute=0)).update(votes=99)
    votes_tally(now=NOW)
    assert VoteHour.objects.get(hour=NOW.replace(hour=8, minute=0)).votes == 99


def test_refused_votes_are_counted_by_reason_in_their_hour():
    for code in ["too_early", "too_early", "ip_rate"]:
        vote_rejection_count(code=code, now=NOW)
    votes_tally(now=NOW)
    assert VoteHour.objects.get(hour=NOW.replace(minute=0)).rejections == {"too_early": 2, "ip_rate": 1}


def test_refused_votes_go_uncounted_without_redis_and_their_hour_waits_to_be_final(cache_unreachable):
    vote_rejection_count(code="too_early", now=NOW)  # no error: the count is lost, not the request
    votes_tally(now=NOW + dt.timedelta(hours=1))
    hour = VoteHour.objects.get(hour=NOW.replace(minute=0))
    assert hour.rejections == {} and hour.is_final is False  # counted again once Redis is back


def test_the_command_counts_again_from_the_first_vote():
    question = QuestionFactory()
    voted(at=timezone.now() - dt.timedelta(days=3), question=question, voter=None)
    out = StringIO()
    call_command("votes_tally", stdout=out)
    assert "counted 4 days (3 final)" in out.getvalue()
    VoteDay.objects.update(votes=0)
    call_command("votes_tally", "--recount", stdout=out)
    assert sum(VoteDay.objects.values_list("votes", flat=True)) == 1
    assert dict(QuestionVotes.objects.values_list("question_id", "votes")) == {question.pk: 1}


def test_a_vote_without_its_time_to_decide_is_counted_in_no_bucket():
    question = QuestionFactory()
    voted(at=NOW.replace(minute=1), question=question, voter=None, decision_ms=None)
    voted(at=NOW.replace(minute=2), question=question, voter=None, decision_ms=4_000)
    votes_tally(now=NOW)
    hour = VoteHour.objects.get(hour=NOW.replace(minute=0))
    assert (hour.votes, hour.decisions) == (2, {"3-10": 1})
