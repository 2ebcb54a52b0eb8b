"""Carriers: finding one by any name a file or a caller uses, and checking tracking numbers (warn only)."""

from __future__ import annotations

import re
import unicodedata

from shopops.core.errors import InvalidInput
from shopops.fulfillment.models import Carrier

MIN_TRACKING_LENGTH = 8
MAX_TRACKING_LENGTH = 40
MAX_ID_DIGITS = 18  # larger numbers overflow a 64-bit id: treat them as a name (and find nothing)
_TRACKING_CHARACTERS = re.compile(r"^[A-Za-z0-9-]+$")


class UnknownCarrier(InvalidInput):
    code = "unknown_carrier"


def _key(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text or "")
    return "".join(char for char in folded if not char.isspace()).casefold()


def _names(carrier: Carrier) -> list[str]:
    names = [carrier.code, carrier.name, carrier.kuaidi100_code, carrier.kdniao_code, *carrier.aliases]
    return [_key(str(name)) for name in names if name]


def find_carrier(name_or_code: str) -> Carrier | None:
    """The carrier whose code, name, alias, 快递100 or 快递鸟 code is `name_or_code` (loosely compared:
    full-width, spaces and case ignored); failing that, the carrier whose name or alias starts the text
    (顺丰速运（标快） → 顺丰速运). None when nothing matches."""
    key = _key(name_or_code)
    if not key:
        return None
    carriers = list(Carrier.objects.order_by("pk"))
    for carrier in carriers:
        if key in _names(carrier):
            return carrier
    # the longest matching prefix wins, so 邮政包裹… never lands on a shorter unrelated alias
    best: tuple[int, Carrier] | None = None
    for carrier in carriers:
        for name in _names(carrier):
            if len(name) >= 2 and key.startswith(name) and (best is None or len(name) > best[0]):
                best = (len(name), carrier)
    return best[1] if best else None


def resolve_carrier(value: int | str | Carrier) -> Carrier:
    """A carrier given by id, code or any name; UnknownCarrier (422) otherwise."""
    if isinstance(value, Carrier):
        return value
    text = str(value).strip()
    carrier = None
    if text.isdigit() and len(text) <= MAX_ID_DIGITS:
        carrier = Carrier.objects.filter(pk=int(text)).first()
    if carrier is None:
        carrier = find_carrier(text)
    if carrier is None:
        raise UnknownCarrier(f"快递公司“{text}”不存在", fields={"carrier": "不存在"})
    if not carrier.is_active:
        raise UnknownCarrier(f"快递公司“{carrier.name}”已停用", fields={"carrier": "已停用"})
    return carrier


def validate_tracking_number(carrier: Carrier | None, number: str) -> list[str]:
    """Reasons to double-check a tracking number; empty when it looks right. Never a refusal: carriers
    change formats, so a number that does not match the known pattern is still accepted."""
    text = (number or "").strip()
    if not text:
        return ["运单号为空"]
    warnings: list[str] = []
    if not _TRACKING_CHARACTERS.match(text):
        warnings.append(f"运单号 {text} 含有字母、数字和 - 以外的字符")
    if not MIN_TRACKING_LENGTH <= len(text) <= MAX_TRACKING_LENGTH:
        warnings.append(f"运单号 {text} 长度为 {len(text)} 位，不像常见的运单号")
    if carrier is not None and carrier.tracking_pattern:
        try:
            matches = re.fullmatch(carrier.tracking_pattern, text) is not None
        except re.error:
            matches = True  # a broken pattern in the carrier table is not the operator's problem
        if not matches:
            warnings.append(f"运单号 {text} 不符合{carrier.name}的常见格式（{carrier.tracking_pattern}）")
    return warnings
