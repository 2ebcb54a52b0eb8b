"""The parameters every 数据中心 report takes (date range, shops, channels, grain), validated once.

The admin pages, the API, the XLSX export and the report emails all build a `ReportParams` here, so a
range is checked (end not before start, at most 3 years) and the shop scope of the user applied the same
way everywhere: a user limited to some shops sees those shops' numbers only, and naming a shop outside
the scope answers as if it did not exist.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from django.utils import timezone

from shopops.channels.models import Platform
from shopops.channels.queries import shop_by_code_or_id
from shopops.core.errors import InvalidInput, NotFound
from shopops.core.permissions import shop_ids_for
from shopops.core.scope import OutOfScope

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
MAX_RANGE_DAYS = 3 * 366
# Every day the data can hold: imports take orders of any year, and a comparison (the same days a year
# and a range earlier) still has room before the first day.
EARLIEST_DAY = dt.date(1000, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)
GRAINS: tuple[str, ...] = ("day", "week", "month")
# a shop id no shop has: "none of the shops" for a user whose scope is empty
NO_SHOP = 0
PRESETS: dict[str, str] = {
    "yesterday": "昨天",
    "last7": "近7天",
    "last30": "近30天",
    "this_month": "本月",
    "custom": "自定义",
}
DEFAULT_PRESET = "last7"


class InvalidRange(InvalidInput):
    code = "invalid_range"


class RangeTooLong(InvalidInput):
    code = "range_too_long"


class UnknownShop(NotFound):
    code = "unknown_shop"


class UnknownChannel(InvalidInput):
    code = "unknown_channel"


class UnknownGrain(InvalidInput):
    code = "unknown_grain"


@dataclass(frozen=True)
class ReportParams:
    """One report's question: days start…end inclusive (Asia/Shanghai), shops and channels (None = all)."""

    start: dt.date
    end: dt.date
    shop_ids: tuple[int, ...] | None = None
    channels: tuple[str, ...] | None = None
    grain: str = "day"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted(self, days: int) -> ReportParams:
        delta = dt.timedelta(days=days)
        return replace(self, start=self.start + delta, end=self.end + delta)

    def as_query(self) -> dict[str, Any]:
        """The keyword arguments of the metrics.compute functions."""
        return {
            "shop_ids": list(self.shop_ids) if self.shop_ids is not None else None,
            "channels": list(self.channels) if self.channels is not None else None,
        }


def today() -> dt.date:
    return timezone.now().astimezone(SHANGHAI).date()


def preset_range(preset: str, *, on: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """昨天, 近7天 and 近30天 end yesterday (today is still running); 本月 runs to yesterday too (or today
    on the 1st)."""
    current = on or today()
    yesterday = current - dt.timedelta(days=1)
    if preset == "yesterday":
        return yesterday, yesterday
    if preset == "last30":
        return current - dt.timedelta(days=30), yesterday
    if preset == "this_month":
        first = current.replace(day=1)
        return first, max(first, yesterday)
    return current - dt.timedelta(days=7), yesterday


def check_range(start: dt.date, end: dt.date) -> None:
    for name, day in (("start", start), ("end", end)):
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise InvalidRange(
                f"日期须在 {EARLIEST_DAY} 与 {LATEST_DAY} 之间", fields={name: "超出可查询的日期"}
            )
    if end < start:
        raise InvalidRange(f"结束日期 {end} 早于开始日期 {start}", fields={"end": "不能早于开始日期"})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise RangeTooLong("日期范围不能超过 3 年", fields={"start": "范围过长", "end": "范围过长"})


def scoped_shop_ids(user: Any, shop: int | str | None) -> tuple[int, ...] | None:
    """The shops a report covers: the one named (by id or code, within the user's scope), else the
    user's whole scope (None when the user sees every shop)."""
    if shop is not None and str(shop).strip() != "":
        try:
            return (shop_by_code_or_id(user, str(shop)).pk,)
        except OutOfScope as refused:  # the report API documents its own code for a bad shop filter
            raise UnknownShop(refused.message, fields=refused.fields) from refused
    allowed = shop_ids_for(user)
    if allowed is None:
        return None
    return tuple(sorted(allowed)) or (NO_SHOP,)


def check_channels(channels: Sequence[str] | None) -> tuple[str, ...] | None:
    wanted = tuple(channel for channel in (channels or ()) if channel)
    if not wanted:
        return None
    unknown = [channel for channel in wanted if channel not in Platform.values]
    if unknown:
        raise UnknownChannel(
            f"未知渠道：{'、'.join(unknown)}", fields={"channel": f"可选：{', '.join(Platform.values)}"}
        )
    return wanted


def build_params(
    *,
    user: Any,
    start: dt.date | None,
    end: dt.date | None,
    shop: int | str | None = None,
    channels: Sequence[str] | None = None,
    grain: str = "day",
    preset: str | None = None,
) -> ReportParams:
    """Validated parameters; a missing start/end falls back to the preset (default 近7天)."""
    if start is None or end is None:
        default_start, default_end = preset_range(preset or DEFAULT_PRESET)
        start = start or default_start
        end = end or default_end
    check_range(start, end)
    if grain not in GRAINS:
        raise UnknownGrain(f"未知粒度：{grain}", fields={"grain": "可选：day, week, month"})
    return ReportParams(
        start=start,
        end=end,
        shop_ids=scoped_shop_ids(user, shop),
        channels=check_channels(channels),
        grain=grain,
    )
