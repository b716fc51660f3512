"""TL505: personal data, confirmed beyond its shape; numbers that only look like it stay quiet."""

from __future__ import annotations

import pytest

from tuneline.analysis.rules import content_personal
from tuneline.analysis.rules.content_personal import find_personal, iban_valid, luhn

from .content_cli import chat, cli, filler, found, marked


def test_each_kind_is_found_and_masked():
    lines = [
        chat("My mail is jane.roe@gmail.com, call me on +44 20 7946 0958.", "Noted."),
        chat("Pay?", "Charge card 4539 1488 0343 6467 or wire to DE89 3704 0044 0532 0130 00."),
        chat("US office?", "Call (415) 555-2671 during office hours."),
        *filler(),
    ]
    hits = found(lines, "TL505")
    assert [marked(lines, f) for f in hits] == [
        "jane.roe@gmail.com",
        "+44 20 7946 0958",
        "4539 1488 0343 6467",
        "DE89 3704 0044 0532 0130 00",
        "(415) 555-2671",
    ]
    assert "j…@gmail.com" in hits[0].message and "jane.roe" not in hits[0].message
    assert "…6467" in hits[2].message and "4539" not in hits[2].message


@pytest.mark.parametrize(
    "text",
    [
        "Build 2024-03-15, version 10.2.3.4, id 123e4567-e89b-12d3-a456-426614174000.",
        "The hash is 8743b52063cd84097a65d1633f5c74f5 and 4539148803436467 is the sum.",  # no card context
        "Write to info@example.com or user@test, logo icon@2x.png.",
        "Test with 4242 4242 4242 4242, Stripe's test card.",
        "The population grew from 1,234,567 to 2,345,678 between 1990 and 2000.",
        "Call 555-1234 or dial 123-456-7890; the server is at 192.168.100.200.",
        "The invoice GB00 0000 0000 0000 0000 00 fails its checksum.",
    ],
)
def test_look_alikes_are_not_personal_data(text):
    assert find_personal(text) == []


def test_checksums():
    assert luhn("4539148803436467") and not luhn("4539148803436468")
    assert iban_valid("GB82 WEST 1234 5698 7654 32") and not iban_valid("GB82 WEST 1234 5698 7654 33")


def test_without_phonenumbers_phones_are_skipped_and_the_rest_still_works(monkeypatch):
    monkeypatch.setattr(content_personal, "_phonenumbers", lambda: None)
    kinds = [p.kind for p in find_personal("Call +1 415-555-2671 or mail a.b@gmail.com")]
    assert kinds == ["e-mail address"] and not content_personal.phone_support()


def test_through_the_cli(tmp_path):
    got = cli(tmp_path, [chat("I am bob.smith@outlook.com", "Hi Bob."), *filler(12)], "TL505")
    assert [(d.line, d.text, d.severity) for d in got] == [(1, "bob.smith@outlook.com", "warning")]
