"""An optional proof of work on votes (ARENA_VOTE_POW_BITS): before a vote is counted, the voter's
browser shows it spent a moment of CPU on that very battle, which makes a scripted flood of votes
cost its sender real work while a person reading the answers never notices.

The puzzle is hashcash's: find a counter (a decimal string) such that SHA-256 of
"{challenge}:{counter}" (UTF-8) starts with at least ARENA_VOTE_POW_BITS zero bits; about
2**bits hashes on average to find, one to check. Nothing is stored: the challenge is an HMAC, keyed
by SECRET_KEY, of the battle and the voter it was served to. So it cannot be worked out before the
battle is served (the key is secret), a solution is good for one voter's vote on one battle, and a
battle takes a single vote: a solution cannot be used twice. The battle's serving time is left out
on purpose: reading it would cost a query on every vote, and a battle whose hold is renewed keeps
the challenge its open page has already solved.
"""

import hashlib
import uuid

from django.conf import settings
from django.utils.crypto import salted_hmac

_SALT = "arena.vote-proof-of-work"
_CHALLENGE_HEX_DIGITS = 32  # 128 bits of the HMAC: no two battles share one
# Longest counter accepted: more digits than any search reaches, and the check stays one short hash.
COUNTER_MAX_DIGITS = 20


def vote_challenge(*, battle_id: int, voter_id: uuid.UUID) -> str:
    """The puzzle of this battle as served to this voter: 32 hexadecimal digits."""
    digest = salted_hmac(_SALT, f"{battle_id}:{voter_id}", algorithm="sha256").hexdigest()
    return digest[:_CHALLENGE_HEX_DIGITS]


def leading_zero_bits(digest: bytes) -> int:
    """How many bits the digest starts with that are zero."""
    number = int.from_bytes(digest, "big")
    return len(digest) * 8 - number.bit_length()


def solution_valid(*, challenge: str, counter: str, bits: int) -> bool:
    """Whether the counter solves the challenge at this difficulty (always, at 0 bits): one hash."""
    if bits <= 0:
        return True
    if not (0 < len(counter) <= COUNTER_MAX_DIGITS and counter.isascii() and counter.isdigit()):
        return False
    digest = hashlib.sha256(f"{challenge}:{counter}".encode()).digest()
    return leading_zero_bits(digest) >= bits


def vote_proof_valid(*, battle_id: int, voter_id: uuid.UUID, counter: str) -> bool:
    """Whether a vote on this battle by this voter carries its proof, at ARENA_VOTE_POW_BITS
    (always when the setting is 0): one HMAC and one hash, no store touched."""
    bits = settings.ARENA_VOTE_POW_BITS
    if bits <= 0:
        return True
    challenge = vote_challenge(battle_id=battle_id, voter_id=voter_id)
    return solution_valid(challenge=challenge, counter=counter, bits=bits)


def vote_puzzle(*, battle_id: int, voter_id: uuid.UUID) -> tuple[str | None, int]:
    """What a voter is given with a battle: its challenge (None when the setting is off) and the bits."""
    bits = settings.ARENA_VOTE_POW_BITS
    if bits <= 0:
        return None, 0
    return vote_challenge(battle_id=battle_id, voter_id=voter_id), bits
