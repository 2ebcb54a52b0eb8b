"""客户关怀."""

from __future__ import annotations
