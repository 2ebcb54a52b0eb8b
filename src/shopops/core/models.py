"""Audit history (append-only), the personal-data permissions, alerts, notifications and import jobs."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils.translation import gettext_lazy as _

from shopops.core.permissions import shop_ids_for
from shopops.core.storage import private_storage, random_upload_name


class AppendOnlyError(Exception):
    pass


class AuditQuerySet(models.QuerySet["AuditEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit entries are append-only")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries are append-only")

    def for_object(self, obj: models.Model) -> AuditQuerySet:
        return self.filter(content_type=ContentType.objects.get_for_model(type(obj)), object_id=str(obj.pk))

    def for_user(self, user: Any) -> AuditQuerySet:
        """Entries about a shop's records only for users whose scope includes that shop; the rest as before."""
        allowed = shop_ids_for(user)
        if allowed is None:
            return self
        return self.filter(models.Q(shop_id__isnull=True) | models.Q(shop_id__in=allowed))


class AuditEntry(models.Model):
    """One change to a business record: who did what, when, from where, with the fields before/after."""

    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("操作人"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    actor_name = models.CharField(_("操作人名称"), max_length=150, blank=True)
    action = models.CharField(_("动作"), max_length=80, db_index=True)
    content_type = models.ForeignKey(
        ContentType,
        verbose_name=_("对象类型"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True, db_index=True)
    object_repr = models.CharField(_("对象"), max_length=200, blank=True)
    changes = models.JSONField(_("变更"), default=dict, blank=True)
    reason = models.CharField(_("原因"), max_length=500, blank=True)
    source = models.CharField(_("来源"), max_length=20, default="system")
    ip = models.GenericIPAddressField(_("IP"), null=True, blank=True)
    request_id = models.CharField(_("请求ID"), max_length=32, blank=True)
    # the shop of the record the entry is about (core sits below channels: an id, not a foreign key)
    shop_id = models.BigIntegerField(_("店铺ID"), null=True, blank=True, db_index=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["content_type", "object_id", "-created_at"])]
        permissions = [
            ("view_pii", _("可查看完整个人信息")),
            ("reveal_pii", _("可逐条查看个人信息（留痕）")),
        ]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries are append-only")


class AlertSeverity(models.TextChoices):
    INFO = "info", _("提示")
    WARNING = "warning", _("警告")
    CRITICAL = "critical", _("严重")


class AlertStatus(models.TextChoices):
    OPEN = "open", _("未解决")
    RESOLVED = "resolved", _("已解决")


class Alert(models.Model):
    """A condition that needs someone's attention (low stock, overstock, …), one row per `dedup_key`.

    Raised and resolved only through `core.notifications`: raising an open alert again updates it
    (last_seen, message, occurrences) instead of repeating it; raising a resolved one re-opens it. The
    people to tell are every active member of the groups (roles) named in `notify_groups`.
    """

    kind = models.CharField(_("类型"), max_length=60, db_index=True, help_text=_("如 inventory.low_stock"))
    dedup_key = models.CharField(_("去重键"), max_length=200, unique=True)
    severity = models.CharField(
        _("级别"), max_length=10, choices=AlertSeverity.choices, default=AlertSeverity.WARNING
    )
    status = models.CharField(
        _("状态"), max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN, db_index=True
    )
    title = models.CharField(_("标题"), max_length=200)
    message = models.TextField(_("内容"), blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    content_type = models.ForeignKey(
        ContentType,
        verbose_name=_("对象类型"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True)
    notify_groups = models.JSONField(
        _("通知角色"), default=list, blank=True, help_text=_("角色（用户组）名称")
    )
    occurrences = models.PositiveIntegerField(_("出现次数"), default=1)
    first_seen = models.DateTimeField(_("首次出现"))
    last_seen = models.DateTimeField(_("最近出现"), db_index=True)
    resolved_at = models.DateTimeField(_("解决时间"), null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("解决人"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        ordering = ["-last_seen", "-id"]
        indexes = [models.Index(fields=["status", "kind"], name="core_alert_status_kind_idx")]

    def __str__(self) -> str:
        return f"[{self.get_severity_display()}] {self.title}"


class Notification(models.Model):
    """One message to one user in the app (站内通知), usually about an alert; unread until `read_at`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("用户"),
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    alert = models.ForeignKey(
        Alert,
        verbose_name=_("预警"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notifications",
    )
    title = models.CharField(_("标题"), max_length=200)
    body = models.TextField(_("内容"), blank=True)
    link = models.CharField(_("链接"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="core_notification_unread_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.title}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class ImportJobStatus(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("导入中")
    SUCCEEDED = "succeeded", _("已完成")
    FAILED = "failed", _("失败")
    REFUSED = "refused", _("被拒绝")


IMPORT_JOB_FINISHED = frozenset({ImportJobStatus.SUCCEEDED, ImportJobStatus.FAILED, ImportJobStatus.REFUSED})


class ImportJob(models.Model):
    """One uploaded file imported in the background (by a Huey task), with its progress and its result.

    `options` holds how to import (`mode`: all_or_nothing | skip_bad_rows, `dry_run`); `result` what the
    import did (counts, the first errors, unknown columns, preview). Created, run and finished only
    through `core.jobs`; progress while running is kept in the cache (the import's own transaction
    would hide it from other requests) and copied to `rows_done`/`rows_total` when the job ends.
    """

    kind = models.CharField(_("类型"), max_length=40, db_index=True, help_text=_("如 products"))
    file = models.FileField(_("文件"), upload_to=random_upload_name, storage=private_storage, max_length=300)
    original_filename = models.CharField(_("原文件名"), max_length=255)
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    options = models.JSONField(_("选项"), default=dict, blank=True)
    status = models.CharField(
        _("状态"),
        max_length=10,
        choices=ImportJobStatus.choices,
        default=ImportJobStatus.QUEUED,
        db_index=True,
    )
    rows_done = models.PositiveIntegerField(_("已处理行数"), default=0)
    rows_total = models.PositiveIntegerField(_("总行数"), null=True, blank=True)
    result = models.JSONField(_("结果"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    errors_file = models.FileField(
        _("错误明细"), upload_to=random_upload_name, storage=private_storage, max_length=300, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("创建人"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)
    # who runs it and when it last said so: a job whose process died is failed, and may be re-run
    worker = models.CharField(
        _("执行进程"), max_length=300, blank=True, help_text=_("主机|启动标识|进程号|启动时间")
    )
    heartbeat_at = models.DateTimeField(_("最近心跳"), null=True, blank=True)

    class Meta:
        verbose_name = _("导入任务")
        verbose_name_plural = _("导入任务")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "kind", "-created_at"], name="core_importjob_user_idx")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} {self.original_filename}"

    @property
    def mode(self) -> str:
        return str(self.options.get("mode", "all_or_nothing"))

    @property
    def is_dry_run(self) -> bool:
        return bool(self.options.get("dry_run", False))

    @property
    def is_finished(self) -> bool:
        return self.status in IMPORT_JOB_FINISHED


class IdempotencyRecord(models.Model):
    """The answer given to one `Idempotency-Key` of one user on one operation, replayed on a retry.

    A retry with the same key and the same request body gets the stored answer; the same key with a
    different body is refused (409), so a client bug never creates a second object silently.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("用户"), on_delete=models.CASCADE, related_name="+"
    )
    scope = models.CharField(_("操作"), max_length=60, help_text=_("如 orders.create"))
    key = models.CharField(_("幂等键"), max_length=64)
    request_hash = models.CharField(_("请求摘要"), max_length=64)
    status_code = models.PositiveSmallIntegerField(_("响应状态"), default=0)
    response = models.JSONField(_("响应内容"), default=dict, blank=True)
    object_id = models.CharField(_("对象ID"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("时间"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("幂等记录")
        verbose_name_plural = _("幂等记录")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="core_idempotency_user_scope_key_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"


class Switch(models.Model):
    """A named operating switch kept in the database, so it travels with a backup and a restore.

    `outbound_paused`: no customer message leaves and no platform is written to (a restored copy starts
    with it on, so a drill or a scratch copy never messages customers or pushes stock twice)."""

    name = models.CharField(_("开关"), max_length=50, unique=True)
    on = models.BooleanField(_("开启"), default=False)
    reason = models.CharField(_("原因"), max_length=200, blank=True)
    changed_at = models.DateTimeField(_("修改时间"), auto_now=True)

    class Meta:
        verbose_name = _("运行开关")
        verbose_name_plural = _("运行开关")

    def __str__(self) -> str:
        return self.name


class DrillStatus(models.TextChoices):
    PASSED = "passed", _("通过")
    FAILED = "failed", _("未通过")


class RestoreDrill(models.Model):
    """One restore drill: a backup restored into a scratch copy, its ledgers verified and its tables
    compared with the manifest (`shopops restore-drill`, also a weekly job). Also carries the
    backup permission, so that the 备份与恢复 page has a model to hang on."""

    archive = models.CharField(_("备份文件"), max_length=300)
    backup_created_at = models.DateTimeField(_("备份时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("开始时间"))
    finished_at = models.DateTimeField(_("结束时间"))
    status = models.CharField(_("结果"), max_length=10, choices=DrillStatus.choices)
    tables_checked = models.PositiveIntegerField(_("核对表数"), default=0)
    rows_checked = models.BigIntegerField(_("核对行数"), default=0)
    problems = models.JSONField(_("发现的问题"), default=list, blank=True)

    class Meta:
        verbose_name = _("恢复演练")
        verbose_name_plural = _("恢复演练")
        ordering = ["-started_at", "-id"]
        default_permissions = ("view",)
        permissions = [("manage_backup", _("管理备份"))]

    def __str__(self) -> str:
        return f"{self.archive} {self.get_status_display()}"
