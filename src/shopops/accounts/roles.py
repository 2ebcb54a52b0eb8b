"""Roles as data: each role is a group whose permissions follow from area × level (view/change).

docs/roles.md is generated from ROLES (`shopops roles --doc`), and a test keeps it in step.
"""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import Group, Permission
from django.db import transaction


class Level(StrEnum):
    VIEW = "view"
    CHANGE = "change"


# area → the models it covers, as (app_label, model); "change" grants add/change/delete too.
AREAS: dict[str, dict[str, object]] = {
    "catalog": {
        "title": "商品",
        "models": [
            ("catalog", m)
            for m in (
                "category",
                "brand",
                "product",
                "productimage",
                "sku",
                "codingrule",
                "channellisting",
                "listingevent",
            )
        ],
    },
    "pricing": {
        "title": "价格",
        "models": [
            ("catalog", m) for m in ("pricehistory", "scheduledpricechange", "promoprice", "pricingpolicy")
        ],
        "change_extra": ["catalog.change_price"],
    },
    "channels": {"title": "渠道店铺", "models": [("channels", "shop")]},
    "users": {
        "title": "用户与角色",
        "models": [
            ("accounts", "user"),
            ("accounts", "apitoken"),
            ("auth", "group"),
            ("inventory", "warehousescopesetting"),
            ("inventory", "userwarehousescope"),
        ],
    },
    "inventory": {
        "title": "库存",
        "models": [
            ("inventory", m)
            for m in (
                "warehouse",
                "location",
                "stocklevel",
                "stockmovement",
                "reservation",
                "bundlecomponent",
                "channelstockrule",
                "stocktake",
                "stocktakeline",
                "transfer",
                "transferline",
                "stockthreshold",
            )
        ],
        "change_extra": ["inventory.approve_stocktake"],
    },
    "purchasing": {
        "title": "采购",
        "models": [
            ("purchasing", m)
            for m in ("supplier", "supplierprice", "purchaseorder", "purchaseorderline", "purchaseorderevent")
        ],
        "change_extra": ["purchasing.approve_purchaseorder"],
    },
    "receiving": {
        "title": "采购收货",
        "models": [("purchasing", m) for m in ("purchasereceipt", "purchasereceiptline")],
        "change_extra": ["purchasing.receive_purchaseorder"],
    },
    "customers": {
        "title": "客户",
        "models": [
            ("customers", m)
            for m in ("customer", "customeraccount", "customernote", "mergesuggestion", "customermerge")
        ],
        "change_extra": ["customers.merge_customer"],
    },
    "orders": {
        "title": "订单",
        "models": [
            ("orders", m)
            for m in ("order", "orderline", "orderevent", "orderissue", "savedfilter", "skumapping")
        ],
        "change_extra": ["orders.review_order", "orders.export_order"],
    },
    "fulfillment": {
        "title": "发货物流",
        "models": [("fulfillment", m) for m in ("carrier", "shipment", "shipmentline", "trackingevent")],
        "change_extra": ["fulfillment.ship_shipment"],
    },
    "aftersales": {
        "title": "售后",
        "models": [
            ("aftersales", m)
            for m in ("returnreason", "aftersalecase", "aftersaleline", "inspection", "caseevent")
        ],
        "change_extra": ["aftersales.approve_aftersalecase"],
    },
    "analytics": {
        "title": "数据中心",
        "models": [
            ("analytics", m)
            for m in ("collectsite", "trafficreport", "adspend", "reportsubscription", "exchangerate")
        ],
        "view_extra": ["analytics.view_datacenter"],
        "change_extra": ["analytics.view_datacenter", "analytics.export_datacenter"],
    },
    # issue 12 areas: each app lists its models here
    "segments": {
        "title": "标签与人群",
        "models": [
            ("segments", "tag"),
            ("segments", "customertag"),
            ("segments", "segment"),
            ("segments", "segmentmember"),
            ("segments", "segmentevent"),
            ("segments", "customermetrics"),
            ("segments", "rfmchange"),
        ],
    },
    "loyalty": {
        "title": "会员与积分",
        "models": [
            ("loyalty", m)
            for m in ("memberlevel", "pointsprogram", "memberaccount", "levelchange", "pointsentry")
        ],
        "change_extra": ["loyalty.adjust_points"],
    },
    "care": {
        "title": "客户关怀",
        "models": [("care", m) for m in ("consentevent", "messagetemplate", "send", "message", "journey")],
    },
    "privacy": {
        "title": "个人信息请求",
        "models": [("privacy", "personaldatarequest"), ("privacy", "erasure")],
    },
    "alerts": {"title": "预警与通知", "models": [("core", "alert"), ("core", "notification")]},
    "audit": {"title": "审计记录", "models": [("core", "auditentry")]},
}

# Extra single permissions (app_label.codename) a role holds beyond its areas.
EXTRA: dict[str, str] = {
    "core.view_pii": "查看完整个人信息",
    "core.reveal_pii": "逐条查看个人信息（留痕）",
    # cost prices, margins, stock value at cost (管理员, 运营, 财务, 仓储); 美工, 客服 and 推广 see sale prices only
    "catalog.view_cost": "查看成本价与毛利",
    # backups hold every customer's personal data: only 管理员 lists, makes and drills them
    "core.manage_backup": "管理备份与恢复",
}

ROLES: dict[str, dict[str, object]] = {
    "admin": {
        "name": "管理员",
        "areas": dict.fromkeys(AREAS, Level.CHANGE),
        "extra": [
            "core.view_pii",
            "core.reveal_pii",
            "catalog.view_cost",
            "core.manage_backup",
            "aftersales.refund_aftersalecase",
            "aftersales.inspect_aftersalecase",
        ],
    },
    "operations": {
        "name": "运营",
        "areas": {
            "catalog": Level.CHANGE,
            "pricing": Level.CHANGE,
            "channels": Level.VIEW,
            "inventory": Level.VIEW,
            "purchasing": Level.CHANGE,
            "customers": Level.CHANGE,
            "orders": Level.CHANGE,
            "fulfillment": Level.VIEW,
            "aftersales": Level.VIEW,
            "receiving": Level.VIEW,
            "analytics": Level.CHANGE,
            "segments": Level.CHANGE,
            "loyalty": Level.CHANGE,
            "care": Level.CHANGE,
            "privacy": Level.VIEW,
            "alerts": Level.VIEW,
            "audit": Level.VIEW,
        },
        "extra": ["catalog.view_cost"],
    },
    "customer_service": {
        "name": "客服",
        "areas": {
            "catalog": Level.VIEW,
            "pricing": Level.VIEW,
            "channels": Level.VIEW,
            "inventory": Level.VIEW,
            "customers": Level.CHANGE,
            "orders": Level.CHANGE,
            "fulfillment": Level.VIEW,
            "aftersales": Level.CHANGE,
            "segments": Level.VIEW,
            "loyalty": Level.VIEW,
            "care": Level.VIEW,
            "privacy": Level.CHANGE,
            "alerts": Level.VIEW,
        },
        "extra": ["core.reveal_pii", "aftersales.refund_aftersalecase"],
    },
    "designer": {"name": "美工", "areas": {"catalog": Level.CHANGE, "alerts": Level.VIEW}, "extra": []},
    "promotion": {
        "name": "推广",
        "areas": {
            "catalog": Level.VIEW,
            "pricing": Level.CHANGE,
            "channels": Level.VIEW,
            "orders": Level.VIEW,
            "analytics": Level.CHANGE,
            "customers": Level.VIEW,
            "segments": Level.CHANGE,
            "loyalty": Level.VIEW,
            "care": Level.CHANGE,
            "alerts": Level.VIEW,
        },
        "extra": [],
    },
    "warehouse": {
        "name": "仓储",
        "areas": {
            "catalog": Level.VIEW,
            "inventory": Level.CHANGE,
            "purchasing": Level.VIEW,
            "receiving": Level.CHANGE,
            "orders": Level.VIEW,
            "fulfillment": Level.CHANGE,
            "aftersales": Level.VIEW,
            "alerts": Level.VIEW,
        },
        "extra": ["aftersales.inspect_aftersalecase", "catalog.view_cost"],
    },
    "finance": {
        "name": "财务",
        "areas": {
            "catalog": Level.VIEW,
            "pricing": Level.VIEW,
            "channels": Level.VIEW,
            "inventory": Level.VIEW,
            "purchasing": Level.VIEW,
            "receiving": Level.VIEW,
            "customers": Level.VIEW,
            "orders": Level.VIEW,
            "fulfillment": Level.VIEW,
            "aftersales": Level.VIEW,
            "analytics": Level.VIEW,
            "loyalty": Level.VIEW,
            "alerts": Level.VIEW,
            "audit": Level.VIEW,
        },
        "extra": ["aftersales.refund_aftersalecase", "orders.export_order", "catalog.view_cost"],
    },
}

# Areas whose history must not be edited by anyone: only view permission exists.
READ_ONLY_MODELS = {
    ("catalog", "pricehistory"),
    ("catalog", "listingevent"),
    ("core", "auditentry"),
    ("inventory", "stockmovement"),
    ("purchasing", "purchaseorderevent"),
    ("purchasing", "purchasereceipt"),
    ("purchasing", "purchasereceiptline"),
    ("orders", "orderevent"),
    ("aftersales", "caseevent"),
    ("customers", "customermerge"),
    ("loyalty", "levelchange"),
    ("loyalty", "pointsentry"),
}


def permissions_for(role: str) -> set[str]:
    """`app_label.codename` strings the role grants."""
    spec = ROLES[role]
    granted: set[str] = set()
    for area, level in dict(spec["areas"]).items():  # type: ignore[call-overload]
        for app_label, model in AREAS[area]["models"]:  # type: ignore[attr-defined]
            granted.add(f"{app_label}.view_{model}")
            if level == Level.CHANGE and (app_label, model) not in READ_ONLY_MODELS:
                granted.update(f"{app_label}.{action}_{model}" for action in ("add", "change", "delete"))
        granted.update(AREAS[area].get("view_extra", []))  # type: ignore[arg-type]
        if level == Level.CHANGE:
            granted.update(AREAS[area].get("change_extra", []))  # type: ignore[arg-type]
    granted.update(spec["extra"])  # type: ignore[arg-type]
    return granted


def role_group_name(role: str) -> str:
    return str(ROLES[role]["name"])


@transaction.atomic
def sync_roles() -> dict[str, Group]:
    """Create or update one group per role with exactly its permissions. Idempotent."""
    index = {
        f"{ct_app}.{codename}": pk
        for pk, codename, ct_app in Permission.objects.values_list(
            "pk", "codename", "content_type__app_label"
        )
    }
    groups: dict[str, Group] = {}
    for role in ROLES:
        group, _created = Group.objects.get_or_create(name=role_group_name(role))
        wanted = permissions_for(role)
        missing = sorted(perm for perm in wanted if perm not in index)
        if missing:
            raise LookupError(f"role {role} names unknown permissions: {missing}")
        group.permissions.set([index[perm] for perm in wanted])
        groups[role] = group
    return groups


def matrix_markdown() -> str:
    """docs/roles.md: role × area × view/change, generated from ROLES."""
    roles = list(ROLES)
    lines = [
        "# Roles and permissions",
        "",
        "Generated from `src/shopops/accounts/roles.py` by `shopops roles --doc`; a test fails if it drifts.",
        "`change` includes view, add, change and delete; history tables (price history, listing events,",
        "audit) are view-only for everyone. Users may also be limited to some shops (scope).",
        "",
        "| area | " + " | ".join(f"{ROLES[r]['name']} {r}" for r in roles) + " |",
        "|---|" + "---|" * len(roles),
    ]
    for area, spec in AREAS.items():
        cells = [str(dict(ROLES[r]["areas"]).get(area, "—")) for r in roles]  # type: ignore[call-overload]
        lines.append(f"| {spec['title']} `{area}` | " + " | ".join(cells) + " |")
    for perm, title in EXTRA.items():
        cells = ["yes" if perm in ROLES[r]["extra"] else "—" for r in roles]  # type: ignore[operator]
        lines.append(f"| {title} `{perm}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
