"""Loyalty's part in personal-data requests: the member's level and points ledger are exported; anonymising
changes nothing here (the ledger holds no personal data, only amounts tied to the customer's id, and must
stay whole so that balances keep equalling its sum)."""

from __future__ import annotations

from typing import Any

from shopops.loyalty.models import LevelChange, MemberAccount, PointsEntry


def export(customer: Any) -> dict[str, list[dict[str, Any]]]:
    account = MemberAccount.objects.select_related("level").filter(customer_id=customer.pk).first()
    if account is None:
        return {}
    entries = PointsEntry.objects.filter(account=account).select_related("order").order_by("id")
    changes = (
        LevelChange.objects.filter(account=account).select_related("from_level", "to_level").order_by("id")
    )
    return {
        "会员账户": [
            {
                "会员等级": account.level.name,
                "等级生效时间": account.level_since.isoformat(),
                "积分余额": account.balance,
            }
        ],
        "积分流水": [
            {
                "时间": entry.created_at.isoformat(),
                "类型": str(entry.get_kind_display()),
                "积分变动": entry.points,
                "变动后余额": entry.balance_after,
                "订单": entry.order.external_id if entry.order is not None else "",
                "到期时间": entry.expires_at.isoformat() if entry.expires_at else "",
                "原因": entry.reason,
            }
            for entry in entries
        ],
        "等级变更记录": [
            {
                "时间": change.changed_at.isoformat(),
                "原等级": change.from_level.name if change.from_level is not None else "",
                "新等级": change.to_level.name,
                "原因": change.reason,
            }
            for change in changes
        ],
    }


def anonymise(customer: Any) -> int:
    """Nothing personal is kept by loyalty: 0 rows changed (the ledger stays whole)."""
    return 0
