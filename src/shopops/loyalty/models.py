"""会员与积分."""

from __future__ import annotations
