"""数据中心 in the back office: collection sites, platform traffic, ad spend, subscriptions and report pages."""

from shopops.analytics.admin import data, datacenter, rates, sites  # noqa: F401 - registers the admins

# Huey's consumer autodiscovers only `<app>.tasks`; the admin is loaded by every process (web and
# worker) at start-up, so the report and import tasks are registered wherever the admin is.
from shopops.analytics.reports import tasks as _report_tasks  # noqa: F401
