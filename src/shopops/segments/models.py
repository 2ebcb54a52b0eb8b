"""标签与人群."""

from __future__ import annotations
