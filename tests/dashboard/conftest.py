import pytest
from django.test import Client


@pytest.fixture
def staff(django_user_model) -> Client:
    """A superuser's client, in English (the pages' words are asserted in English)."""
    user = django_user_model.objects.create_user("operator", password="a-long-password-1", is_staff=True)
    user.is_superuser = True
    user.save()
    client = Client()
    client.force_login(user)
    client.cookies["arena_language"] = "en"
    return client
