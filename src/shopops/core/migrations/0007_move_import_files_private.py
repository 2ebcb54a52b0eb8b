"""Move import uploads and error reports stored under the public MEDIA_ROOT to private storage."""

from pathlib import Path

from django.conf import settings
from django.db import migrations


def move_files(apps, schema_editor):
    from shopops.core.storage import private_storage, random_upload_name

    ImportJob = apps.get_model("core", "ImportJob")
    storage = private_storage()
    public_root = Path(settings.MEDIA_ROOT)
    moved: dict[str, str] = {}  # a confirmed job shares its dry run's file
    for job in ImportJob.objects.exclude(file="", errors_file="").iterator():
        changed = []
        for field in ("file", "errors_file"):
            name = getattr(job, field).name
            if not name:
                continue
            if name not in moved:
                public = public_root / name
                if not public.is_file():
                    continue
                with public.open("rb") as handle:
                    moved[name] = storage.save(random_upload_name(job, name), handle)
                public.unlink()
            setattr(job, field, moved[name])
            changed.append(field)
        if changed:
            job.save(update_fields=changed)


class Migration(migrations.Migration):
    dependencies = [("core", "0006_private_import_files")]

    operations = [migrations.RunPython(move_files, migrations.RunPython.noop)]
