"""The accounts app; roles (groups) are re-synced after every `migrate`."""

from __future__ import annotations

import logging
from typing import Any

from django.apps import AppConfig, apps
from django.db import DatabaseError
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

logger = logging.getLogger(__name__)


def sync_roles_after_migrate(sender: AppConfig, **kwargs: Any) -> None:
    """Seed the role groups once every app's permissions exist, i.e. after the last app migrated."""
    last_app = [config for config in apps.get_app_configs() if config.models_module is not None][-1]
    if sender.label != last_app.label or kwargs.get("using", "default") != "default":
        return
    from shopops.accounts.roles import sync_roles

    try:
        sync_roles()
    except (LookupError, DatabaseError):
        # a partial migrate (`migrate catalog 0001`, `migrate accounts zero`) may lack what the roles name
        logger.warning("roles not synced: some permissions do not exist yet", exc_info=True)


class AccountsConfig(AppConfig):
    name = "shopops.accounts"
    label = "accounts"
    verbose_name = _("用户与权限")

    def ready(self) -> None:
        post_migrate.connect(
            sync_roles_after_migrate, dispatch_uid="shopops.accounts.sync_roles_after_migrate"
        )
