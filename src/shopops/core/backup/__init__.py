"""Backups that are proven: one archive (database, media, private files, analytics) with a manifest of
checksums and row counts, a restore that refuses what it cannot trust, and a drill that restores into a
scratch copy and verifies it (docs/backup.md).

Modules: `digests` (row counts and table checksums), `crypto` (optional encryption), `database` (the
vendor's dump and restore), `archive` (write and read the archive), `restore`, `drill`, `retention`.
"""
