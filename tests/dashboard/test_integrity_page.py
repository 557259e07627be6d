"""The dashboard's Vote integrity page: flagged voters and votes with their reasons, confirm or restore
one or many, and the board with and without the votes left out, side by side."""

import datetime as dt

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone

from battles.models import Vote
from battles.services.integrity import integrity_sweep
from dashboard.selectors_integrity import boards_compared
from ratings.models import RatingsState
from ratings.services import ratings_refresh_locked
from tests.factories import ContenderFactory, VoteFactory, VoterFactory

pytestmark = pytest.mark.django_db

URL = "/admin/dashboard/integrity/"
ACTION = "/admin/dashboard/integrity/action/"


@pytest.fixture
def flagged():
    """Honest voters (alpha beats beta) and one hasty voter whose 6 votes for beta are left out."""
    alpha, beta = ContenderFactory(name="alpha"), ContenderFactory(name="beta")
    now = timezone.now()
    for v in range(4):
        voter = VoterFactory()
        for i in range(5):
            VoteFactory(
                voter=voter,
                contender_a=alpha,
                contender_b=beta,
                outcome="a" if i < 4 else "b",
                decision_ms=40_000,
                created_at=now - dt.timedelta(minutes=90 - 10 * v - i),
            )
    hasty = VoterFactory()
    votes = [
        VoteFactory(
            voter=hasty,
            contender_a=alpha,
            contender_b=beta,
            outcome="b",
            decision_ms=600,
            created_at=now - dt.timedelta(minutes=30 - i),
        )
        for i in range(6)
    ]
    integrity_sweep()
    return hasty, votes


def test_the_page_shows_flagged_voters_votes_and_both_boards(staff, flagged):
    hasty, _ = flagged
    page = staff.get(URL).content.decode()
    assert str(hasty.pk)[:8] in page
    assert "decided faster than the answers can be read" in page  # the reasons in words
    assert "fast, fast_voter" in page
    compared = boards_compared()
    assert (compared.votes_counted, compared.votes_left_out) == (20, 6)
    rows = {row.name: row for row in compared.rows}
    # Without the hasty voter alpha leads by more; with every vote beta gains.
    assert rows["alpha"].votes == 20 and rows["alpha"].votes_all == 26
    assert rows["beta"].rating < rows["beta"].rating_all
    assert rows["alpha"].moved > 0
    assert "20 votes count; 6 are left out" in page
    # One voter's votes only.
    one = staff.get(URL, {"voter": str(hasty.pk)}).content.decode()
    assert f"Flagged votes of voter {str(hasty.pk)[:8]}" in one


def test_staff_restore_and_confirm_a_voter_or_single_votes(staff, flagged):
    hasty, votes = flagged
    RatingsState.objects.update(recount_requested_at=None)
    response = staff.post(ACTION, {"action": "restore", "voter": str(hasty.pk)}, follow=True)
    assert "6 votes count again" in response.content.decode()
    assert not Vote.objects.exclude(excluded_reasons="").exists()
    assert RatingsState.objects.get().recount_requested_at is not None
    integrity_sweep()  # restored votes are left be
    assert not Vote.objects.exclude(excluded_reasons="").exists()

    response = staff.post(ACTION, {"action": "confirm", "vote": [votes[0].pk, votes[1].pk]}, follow=True)
    assert "2 votes are left out for good" in response.content.decode()
    assert set(Vote.objects.exclude(excluded_reasons="").values_list("pk", flat=True)) == {
        votes[0].pk,
        votes[1].pk,
    }
    assert Vote.objects.get(pk=votes[0].pk).excluded_reasons == "staff"

    response = staff.post(ACTION, {"action": "confirm"}, follow=True)
    assert "Choose votes or voters first." in response.content.decode()
    assert staff.post(ACTION, {"action": "delete", "vote": votes[2].pk}).status_code == 404


def test_staff_without_the_change_vote_permission_see_but_cannot_act(django_user_model, flagged):
    hasty, _ = flagged
    user = django_user_model.objects.create_user("viewer", password="a-long-password-1", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_vote"))
    client = Client()
    client.force_login(user)
    page = client.get(URL)
    assert page.status_code == 200 and 'name="vote"' not in page.content.decode()
    assert client.post(ACTION, {"action": "restore", "voter": str(hasty.pk)}).status_code == 403
    assert Vote.objects.exclude(excluded_reasons="").count() == 6
    assert Client().get(URL).status_code == 302  # not logged in: to the login page


def test_the_dashboard_links_to_the_page(staff):
    assert URL in staff.get("/admin/dashboard/").content.decode()


def test_the_boards_compared_agree_before_and_after_the_refresh(flagged):
    """Until the refresh recounts them, the pair counters still hold the votes left out: the page
    counts from the votes meanwhile, and from the counters after."""
    pending = boards_compared()
    ratings_refresh_locked()
    refreshed = boards_compared()
    assert (pending.votes_counted, pending.votes_left_out) == (
        refreshed.votes_counted,
        refreshed.votes_left_out,
    )
    assert [(row.name, round(row.rating, 6)) for row in pending.rows] == [
        (row.name, round(row.rating, 6)) for row in refreshed.rows
    ]
