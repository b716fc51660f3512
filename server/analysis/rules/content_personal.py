"""TL505: personal data in user and assistant text: e-mail addresses, phone numbers, payment cards, IBANs.

Each kind is found by shape and then confirmed, so ordinary numbers stay quiet: a card number must pass the Luhn
check and start like a card network's numbers; an IBAN must have its country's length and a valid mod-97 check;
a phone number must be written like one (a leading `+`, or a national layout with separators) and be a valid
number for its region by Google's libphonenumber metadata (the `phonenumbers` package; without it phone numbers
are not looked for). Documentation addresses (example.com, .test, .invalid) and the card networks' published test
numbers are not personal data. Dates, times, versions, IP addresses, hashes and UUIDs fail these shapes.

Cost: a text is searched only when it holds an `@` (e-mail) or a run of at least seven digits and separators
(everything else); both gates run at C speed (the run with a plain pattern sre scans quickly), so prose without
them costs two scans.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, NamedTuple

_EMAIL = re.compile(
    r"(?<![\w.%+-])[A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,63})@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"([A-Za-z]{2,24})(?![\w@-])"
)
_RESERVED_DOMAINS = (
    "example.com", "example.org", "example.net", "example.edu", "domain.com", "email.com", "company.com",
    "yourcompany.com", "yourdomain.com", "mycompany.com", "acme.com",
)  # fmt: skip
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local", "internal"})
# File names such as icon@2x.png end in an extension, not a top-level domain.
_FILE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf", "js", "ts", "py", "css", "html", "json"})

# A run of digits with the separators people write numbers with; 7+ characters, starting and ending on a digit
# (a leading + or opening parenthesis is taken along).
_NUMBERISH = re.compile(r"(?<![\w.+/-])(?:\+|\([0-9])?[0-9][0-9 \-.()/]{5,28}[0-9](?![\w/])")
# The same run without its edges, `[0-9][0-9 \-.()/]{5,}[0-9]`, as a prefilter: text without one costs little. It
# is searched on the UTF-8 bytes mapped to "d" (an ASCII digit), "s" (a separator) and " " (anything else, every
# byte of a non-ASCII character included), where the pattern starts with a literal sre finds at memchr speed.
_RUN_BYTES = bytes(ord("d") if 48 <= b <= 57 else ord("s") if chr(b) in " -.()/" else ord(" ") for b in range(256))
_RUN_MAPPED = re.compile(rb"d[ds]{5,}d")


def has_number_run(text: str) -> bool:
    """Whether `text` holds a number-like run (every example's prompt and answer ask): half the time of the regex
    on the text itself, with exactly its answers (a test compares the two)."""
    return _RUN_MAPPED.search(text.encode("utf-8", "surrogatepass").translate(_RUN_BYTES)) is not None


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?)(?![A-Za-z0-9])")
# A card number is written in the networks' groups (4-4-4-4, 4-6-5, ...) or stands next to a word that says it is
# one: a bare run of 16 digits is far more often a sum, an id or a timestamp.
_CARD_GROUPS = re.compile(r"\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1?\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5}")
_CARD_WORDS = re.compile(r"(?i)card|visa|master|amex|american express|discover|payment|credit|debit|cc\b")
_NANP = re.compile(r"\(?\d{3}\)?[ .-]?\d{3}[ .-]\d{4}")
_NATIONAL = re.compile(r"0\d{1,4}[ /-]?\d{2,4}(?:[ -]\d{2,4}){1,3}")

# ISO 13616 lengths of the countries that issue IBANs.
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "BY": 28,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22,
    "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19,
    "SK": 24, "SM": 27, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip

# Published test numbers of the card networks and payment processors: documentation, not anyone's card.
_TEST_CARDS = frozenset(
    {
        "4111111111111111", "4242424242424242", "4012888888881881", "4000056655665556", "4222222222222",
        "5555555555554444", "5105105105105100", "5200828282828210", "2223003122003222", "378282246310005",
        "371449635398431", "378734493671000", "6011111111111117", "6011000990139424", "3530111333300000",
        "3566002020360505", "30569309025904", "38520000023237", "6200000000000005",
    }
)  # fmt: skip


class Personal(NamedTuple):
    kind: str  # "e-mail address" | "phone number" | "payment card number" | "IBAN"
    start: int
    end: int
    masked: str


def _mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}…@{domain}"


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_network(digits: str) -> bool:
    """The number starts like a card of a network that issues numbers of its length (IIN ranges)."""
    n = len(digits)
    two, four = int(digits[:2]), int(digits[:4])
    if digits[0] == "4":
        return n in (13, 16, 19)  # Visa
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16  # Mastercard
    if two in (34, 37):
        return n == 15  # American Express
    if digits.startswith(("6011", "65")) or 644 <= int(digits[:3]) <= 649:
        return 16 <= n <= 19  # Discover
    if 3528 <= four <= 3589:
        return 16 <= n <= 19  # JCB
    if two in (36, 38, 39) or 300 <= int(digits[:3]) <= 305:
        return 14 <= n <= 19  # Diners Club
    if digits.startswith("62"):
        return 16 <= n <= 19  # UnionPay
    return False


def iban_valid(value: str) -> bool:
    compact = value.replace(" ", "")
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


@lru_cache(maxsize=1)
def _phonenumbers() -> Any:
    """The `phonenumbers` module, or None when it is not installed (phone numbers are then not looked for)."""
    try:
        import phonenumbers
    except ImportError:
        return None
    return phonenumbers


def phone_support() -> bool:
    return _phonenumbers() is not None


def _valid_phone(candidate: str) -> bool:
    pn = _phonenumbers()
    if pn is None:
        return False
    if candidate.startswith("+"):
        regions: tuple[str | None, ...] = (None,)
    elif _NANP.fullmatch(candidate):
        regions = ("US",)
    elif _NATIONAL.fullmatch(candidate):
        regions = ("GB", "DE", "FR", "IT", "ES", "NL", "AU")
    else:
        return False
    for region in regions:
        try:
            number = pn.parse(candidate, region)
        except pn.NumberParseException:
            continue
        if pn.is_valid_number(number):
            return True
    return False


def _numbers(text: str) -> Iterator[Personal]:
    for m in _NUMBERISH.finditer(text):
        value = m.group()
        digits = _digits(value)
        n = len(digits)
        if n < 7 or _DATE.fullmatch(value) or (value.count(".") >= 2 and " " not in value and "-" not in value):
            continue  # too short, a date, or dotted like a version or an IP address
        if 13 <= n <= 19 and not value.startswith(("+", "(")):
            written = _CARD_GROUPS.fullmatch(value) or _CARD_WORDS.search(text, max(0, m.start() - 60), m.start())
            if written and luhn(digits) and _card_network(digits) and digits not in _TEST_CARDS:
                yield Personal("payment card number", m.start(), m.end(), f"…{digits[-4:]}")
            continue
        if n <= 15 and _valid_phone(value.strip()):
            yield Personal("phone number", m.start(), m.end(), f"…{digits[-2:]}")


def find_personal(text: str) -> list[Personal]:
    """Personal data in one text, in order of position."""
    out: list[Personal] = []
    if "@" in text:
        for m in _EMAIL.finditer(text):
            value = m.group()
            domain = value.rpartition("@")[2].lower()
            tld = m.group(1).lower()
            if tld in _RESERVED_TLDS or tld in _FILE_TLDS or domain.endswith(_RESERVED_DOMAINS):
                continue
            out.append(Personal("e-mail address", m.start(), m.end(), _mask_email(value)))
    if not has_number_run(text) or _NUMBERISH.search(text) is None:
        return out
    out.extend(_numbers(text))
    for m in _IBAN.finditer(text):
        if iban_valid(m.group(1)):
            value = m.group(1).replace(" ", "")
            out.append(Personal("IBAN", m.start(1), m.end(1), f"{value[:2]}…{value[-2:]}"))
    out.sort(key=lambda p: p.start)
    return out
