"""The online backup (sqlite_backup.py) of a real SQLite database in a data folder of the test's own."""

import io
import os
import sqlite3
import unittest

from shipped import OnDataFolder


class Backup(OnDataFolder):
    SCRIPT = "sqlite_backup"

    def test_streams_a_consistent_copy_of_a_database_in_use_and_leaves_nothing_behind(self):
        live = sqlite3.connect(self.data / "homeserver.db")
        live.execute("PRAGMA journal_mode = WAL")
        live.execute("CREATE TABLE events (body TEXT)")
        live.executemany("INSERT INTO events VALUES (?)", [(f"message {i}",) for i in range(500)])
        live.commit()
        # Still open, with the rows in its write-ahead log: a file copy of homeserver.db alone would miss them.
        out = io.BytesIO()
        self.script.backup(out)
        live.close()
        restored = self.data.parent / f"{self.data.name}-restored.db"
        self.addCleanup(lambda: restored.unlink(missing_ok=True))
        restored.write_bytes(out.getvalue())
        copy = sqlite3.connect(restored)
        self.assertEqual(copy.execute("SELECT count(*) FROM events").fetchone()[0], 500)
        self.assertEqual(copy.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        copy.close()
        self.assertEqual(sorted(name for name in os.listdir(self.data) if "backup" in name), [], "the copy in the volume is removed")

    def test_a_missing_database_is_an_error_not_an_empty_backup(self):
        with self.assertRaises(SystemExit):
            self.script.backup(io.BytesIO())
        self.assertFalse((self.data / "homeserver.db").exists(), "no empty database is created in the volume")


if __name__ == "__main__":
    unittest.main()
