"""The one personal-data policy: what counts as personal data, how it is masked, who may see it."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

VIEW_PII_PERMISSION = "core.view_pii"
REVEAL_PII_PERMISSION = "core.reveal_pii"


class PIIKind(StrEnum):
    NAME = "name"
    PHONE = "phone"
    ADDRESS = "address"
    EMAIL = "email"
    ID_NUMBER = "id_number"
    BANK_CARD = "bank_card"


_MOBILE = re.compile(r"^(?P<head>1\d{2})\d{4}(?P<tail>\d{4})(?P<ext>-\d{1,6})?$")
# a written area code (010-, 0915-, (021)) tells how many leading digits are not the subscriber's
_AREA_CODE = re.compile(r"^\(?(?P<code>0\d{2,3})[)\-]")
# Chinese addresses (simplified or traditional) open with province / city / district; digits never
# belong to those names, so a house number cannot be taken for one.
_ADDRESS_HEAD = re.compile(
    r"^(?P<head>(?:[^省市区县區縣\d]{2,7}?(?:省|自治区|自治區|特别行政区|特別行政區))?"
    r"(?:[^省市区县區縣\d]{1,9}?(?:市|自治州|地区|地區|盟))?"
    r"(?:[^省市区县區縣\d]{1,9}?(?:区|區|县|縣|市|旗))?)"
)
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
ADDRESS_MASK = "******"
# Words that make a comma-separated part a street line (street types, units, boxes), in the languages
# of the platforms we import; German compounds end with them (Hauptstraße, Lindenallee).
_STREET_WORDS = re.compile(
    r"\b(?:street|road|avenue|lane|drive|boulevard|way|court|place|square|terrace|crescent|close|highway|"
    r"parkway|apt|apartment|unit|suite|flat|floor|room|building|bldg|block|house|box|c/o|rue|calle|via|"
    r"piazza)\b"
    r"|\w(?:straße|strasse|str\.|gasse|allee|platz|weg)\b"
    # abbreviations only after a name ("Elm St", "Oak Pl"), so St. Louis or a country code PL stay
    r"|\s(?:st|str|rd|ave|ln|dr|blvd|ct|pl|sq|hwy|pkwy|ste)\b|#",
    re.IGNORECASE,
)
# A house or unit number: 5, 12a, 12-14, 10/F, #3 (postcodes have more digits, a leading 0 or letters
# first; a four-digit one such as Sydney's 2000 is taken for a number, which hides more, never less).
_HOUSE_NUMBER = re.compile(r"^#?[1-9]\d{0,3}[A-Za-z]?(?:[-/][0-9A-Za-z]{1,4})?\.?$")


def mask_name(value: str) -> str:
    value = value.strip()
    if not value:
        return value
    return value[0] + "**"


def mask_phone(value: str) -> str:
    text = re.sub(r"[\s'+]", "", value.strip())
    text = text.removeprefix("86") if len(text) == 13 and text.startswith("86") else text
    mobile = _MOBILE.match(text)
    if mobile:
        ext = mobile["ext"] or ""
        return f"{mobile['head']}****{mobile['tail']}{'-' + '*' * (len(ext) - 1) if ext else ''}"
    digits = [c for c in text if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(text)
    # landline such as 0915-1234579: keep the area code and the last two digits
    plain = "".join(digits)
    area = _AREA_CODE.match(text)
    keep_head = len(area["code"]) if area else 4 if plain.startswith("0") else 3
    if len(plain) < keep_head + 4:
        return plain[:2] + "*" * (len(plain) - 2)
    return plain[:keep_head] + "*" * (len(plain) - keep_head - 2) + plain[-2:]


def mask_address(value: str) -> str:
    """An address by its structure: a Chinese one keeps province/city/district, a comma-separated one
    keeps the parts after its street lines (city, region, country) without postcodes; anything else,
    such as a lone street line (Shopify's Address1), is hidden whole."""
    text = value.strip()
    if not text:
        return text
    if _CJK.search(text):
        return _mask_chinese_address(text)
    return _mask_western_address(text)


def _mask_chinese_address(text: str) -> str:
    match = _ADDRESS_HEAD.match(re.sub(r"\s", "", text))
    head = match["head"] if match else ""
    # keep the spacing of "浙江省 杭州市 西湖区 文三路…" when the region is written as separate words
    kept: list[str] = []
    for word in text.split():
        if not head.startswith("".join(kept) + word):
            break
        kept.append(word)
    if kept and "".join(kept) == head:
        return " ".join(kept) + " " + ADDRESS_MASK
    return head + ADDRESS_MASK


def _is_street_line(part: str) -> bool:
    return bool(_STREET_WORDS.search(part)) or any(_HOUSE_NUMBER.match(word) for word in part.split())


def _mask_western_address(text: str) -> str:
    parts = [part.strip() for part in text.split(",")]
    # street lines come first: the first part always, and every part up to the last that looks like one
    last_street = max(index for index, part in enumerate(parts) if index == 0 or _is_street_line(part))
    region = [
        " ".join(word for word in part.split() if not any(character.isdigit() for character in word))
        for part in parts[last_street + 1 :]
    ]
    return ", ".join([ADDRESS_MASK, *(part for part in region if part)])


def mask_email(value: str) -> str:
    text = value.strip()
    local, sep, domain = text.partition("@")
    if not sep:
        return mask_name(text)
    return f"{local[:1]}***@{domain}"


def mask_id_number(value: str) -> str:
    text = value.strip()
    if len(text) <= 3:
        return "*" * len(text)
    return text[0] + "*" * (len(text) - 3) + text[-2:]


def mask_bank_card(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return "****" + digits[-4:] if len(digits) >= 4 else "****"


MASKERS: dict[PIIKind, Callable[[str], str]] = {
    PIIKind.NAME: mask_name,
    PIIKind.PHONE: mask_phone,
    PIIKind.ADDRESS: mask_address,
    PIIKind.EMAIL: mask_email,
    PIIKind.ID_NUMBER: mask_id_number,
    PIIKind.BANK_CARD: mask_bank_card,
}


def mask(kind: PIIKind | str, value: Any) -> Any:
    if value is None or value == "":
        return value
    return MASKERS[PIIKind(kind)](str(value))


def can_view_pii(user: Any) -> bool:
    return bool(
        user is not None and getattr(user, "is_authenticated", False) and user.has_perm(VIEW_PII_PERMISSION)
    )


def pii_fields(model: Any) -> dict[str, PIIKind]:
    """The personal-data fields a model declares as `PII_FIELDS = {"field": PIIKind.PHONE}`."""
    return dict(getattr(model, "PII_FIELDS", {}))


def shown(user: Any, obj: Any, field: str) -> Any:
    """The value of `obj.field` as this user may see it."""
    value = getattr(obj, field)
    kind = pii_fields(type(obj)).get(field)
    if kind is None or can_view_pii(user):
        return value
    return mask(kind, value)


def masked_dict(user: Any, model: Any, data: dict[str, Any]) -> dict[str, Any]:
    """Mask a row (API output, export row) of `model` for this user."""
    if can_view_pii(user):
        return data
    kinds = pii_fields(model)
    return {key: (mask(kinds[key], value) if key in kinds else value) for key, value in data.items()}


_LOG_PATTERNS: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"(?<![\w.@-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), lambda m: mask_email(m.group(0))),
    (re.compile(r"(?<!\d)\d{17}[\dXx](?!\d)"), lambda m: mask_id_number(m.group(0))),
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), lambda m: mask_phone(m.group(0))),
]


def scrub_text(text: str) -> str:
    """Mask phone numbers, ID numbers and emails found in free text (logs, error reports)."""
    for pattern, replace in _LOG_PATTERNS:
        text = pattern.sub(replace, text)
    return text


class MaskingLogFilter(logging.Filter):
    """Keeps personal data out of logs: the formatted message is scrubbed before any handler sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logged as it is
            return True
        scrubbed = scrub_text(message)
        if scrubbed != message:
            record.msg = scrubbed
            record.args = None
        return True
