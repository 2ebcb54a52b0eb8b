"""`shopops analytics run|loop|rebuild|sync|status`: operate the analytics warehouse."""

from __future__ import annotations

import json
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from shopops.analytics import pipeline
from shopops.analytics.warehouse import facts


class Command(BaseCommand):
    help = "数据中心：run 执行一次（采集压缩→事实同步→汇总刷新）；loop 持续运行；rebuild 全量重建；sync 仅同步事实；status 状态"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["run", "loop", "rebuild", "sync", "status"])
        parser.add_argument("--every", type=float, default=10.0, help="loop: seconds between passes")
        parser.add_argument("--full", action="store_true", help="run/sync: reconcile every fact day")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "loop":
            stopping = {"now": False}

            def stop(_signal: int, _frame: Any) -> None:
                stopping["now"] = True

            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            pipeline.loop(options["every"], stop=lambda: stopping["now"])
            return
        if action == "run":
            result: Any = pipeline.run_once(wait=True, full_sync=True if options["full"] else None)
        elif action == "rebuild":
            result = pipeline.rebuild()
        elif action == "sync":
            with pipeline.pipeline_lock(wait=True):
                result = {"fact_days": sorted(facts.sync(full=options["full"]))}
        else:
            result = pipeline.status()
        self.stdout.write(json.dumps(result, default=str, ensure_ascii=False, indent=2))
