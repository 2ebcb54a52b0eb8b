"""Shop readers (scoped through `core.scope`) and platform export formats as data: header aliases,
status maps and quirks per platform (formats/*.toml)."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from shopops.channels.models import Shop
from shopops.core.errors import InvalidInput
from shopops.core.scope import out_of_scope, scoped

FORMATS_DIRECTORY = Path(__file__).resolve().parent / "formats"


class UnknownFormat(InvalidInput):
    code = "unknown_format"


@dataclass(frozen=True)
class PlatformFormat:
    """One platform's export file: which headers feed which logical column, and how values read.

    `columns` maps a logical column key (see `orders.imports.reading.COLUMN_KINDS`) to the headers it
    accepts, best first; `ignore` lists headers we know and deliberately leave unread (not reported as
    unknown); `status` maps raw status text (or each part of a combined status) to a normalized order
    status; `refund` maps raw refund / after-sale text to none | pending | partial | full;
    `fulfillment` (Shopify) maps the fulfillment status to a shipping status; `quirks` are flags.
    """

    name: str
    label: str
    platform: str
    line_level: bool
    detect: tuple[str, ...]
    columns: dict[str, tuple[str, ...]]
    ignore: tuple[str, ...] = ()
    status: dict[str, str] = field(default_factory=dict)
    refund: dict[str, str] = field(default_factory=dict)
    fulfillment: dict[str, str] = field(default_factory=dict)
    quirks: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    def quirk(self, name: str, default: Any = None) -> Any:
        return self.quirks.get(name, default)


def _override_directory() -> Path:
    return Path(settings.VAR_DIR) / "formats"


def platform_format_names() -> list[str]:
    """The formats shipped with shopops (a shop may add its own mapping file, see load_platform_format)."""
    return sorted(path.stem for path in FORMATS_DIRECTORY.glob("*.toml"))


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InvalidInput(f"格式文件 {where} 应为字符串或字符串列表")


def _text_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise InvalidInput(f"格式文件 {where} 应为 文本 = 文本 的映射")
    return dict(value)


def parse_platform_format(data: dict[str, Any], *, name: str, path: str = "") -> PlatformFormat:
    columns = data.get("columns")
    if not isinstance(columns, dict) or not columns:
        raise InvalidInput(f"格式 {name} 缺少 [columns]")
    return PlatformFormat(
        name=str(data.get("name", name)),
        label=str(data.get("label", name)),
        platform=str(data.get("platform", name)),
        line_level=bool(data.get("line_level", False)),
        detect=_strings(data.get("detect", []), "detect"),
        columns={key: _strings(value, f"columns.{key}") for key, value in columns.items()},
        ignore=_strings(data.get("ignore", []), "ignore"),
        status=_text_map(data.get("status", {}), "status"),
        refund=_text_map(data.get("refund", {}), "refund"),
        fulfillment=_text_map(data.get("fulfillment", {}), "fulfillment"),
        quirks=dict(data.get("quirks", {})),
        path=path,
    )


@functools.cache
def _load_file(path: str, modified: float) -> PlatformFormat:
    with open(path, "rb") as handle:
        try:
            data = tomllib.load(handle)
        except tomllib.TOMLDecodeError as error:
            raise InvalidInput(f"格式文件 {path} 无法解析：{error}") from error
    return parse_platform_format(data, name=Path(path).stem, path=path)


def load_platform_format(name: str) -> PlatformFormat:
    """The format called `name` (taobao, taobao_items, jd, pdd, shopify, douyin, template), or a mapping
    file given by path (`my-douyin.toml`). `$SHOPOPS_VAR_DIR/formats/<name>.toml` overrides the shipped
    file, so an operator can adapt a mapping (Douyin exports change often) without touching the code."""
    if name.endswith(".toml"):
        candidate = Path(name)
    else:
        candidate = _override_directory() / f"{name}.toml"
        if not candidate.is_file():
            candidate = FORMATS_DIRECTORY / f"{name}.toml"
    if not candidate.is_file():
        raise UnknownFormat(
            f"未知的订单格式：{name}", fields={"format": f"可选：{'、'.join(platform_format_names())}"}
        )
    return _load_file(str(candidate.resolve()), candidate.stat().st_mtime)


# shops in a user's scope


def shops_for(user: Any) -> QuerySet[Shop]:
    """The shops `user` may see; an actor that is not a logged-in user (the CLI, a task) sees every shop."""
    if not getattr(user, "is_authenticated", False):
        return Shop.objects.all()
    return scoped(Shop, user)


def shop_in_scope(user: Any, shop_id: int, *, field: str | None = None) -> Shop:
    """The shop with this id within `user`'s scope, else the one out-of-scope 404 (on `field`)."""
    found = shops_for(user).filter(pk=shop_id).first()
    if found is None:
        raise out_of_scope("店铺", field=field)
    return found


def shop_by_code_or_id(user: Any, shop: Shop | int | str, *, field: str = "shop") -> Shop:
    """The shop named by instance, code or id (codes first), within `user`'s scope."""
    if isinstance(shop, Shop):
        return shop
    text = str(shop).strip()
    shops = shops_for(user)
    found = shops.filter(code=text).first()
    if found is None and text.isdigit():
        found = shops.filter(pk=int(text)).first()
    if found is None:
        raise out_of_scope(f"店铺 {text} ", field=field)
    return found
