"""个人信息."""

from __future__ import annotations
