"""Customers API: customers and their platform accounts (personal data masked by policy)."""

from ninja import Router

router = Router(tags=["customers"])
