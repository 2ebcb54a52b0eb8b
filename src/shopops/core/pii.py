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
_ADDRESS_HEAD = re.compile(
    r"^(?P<head>(?:[^省市区县]{2,7}?(?:省|自治区|特别行政区))?"
    r"(?:[^省市区县]{1,9}?(?:市|自治州|地区|盟))?"
    r"(?:[^省市区县]{1,9}?(?:区|县|市|旗))?)"
)


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
    text = value.strip()
    if not text:
        return text
    parts = text.split()
    if len(parts) >= 4:
        return " ".join(parts[:3]) + " ******"
    match = _ADDRESS_HEAD.match(text.replace(" ", ""))
    head = match["head"] if match else ""
    if not head:
        head = text[:2]
    return head + "******"


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
