"""Putting a restored SQLite database in place (restore_sqlite.py), with real files in a data folder of the test's own."""

import sqlite3
import unittest

from shipped import OnDataFolder, sqlite_file


class PutInPlace(OnDataFolder):
    SCRIPT = "restore_sqlite"

    def database(self, path, marker):
        sqlite_file(
            path,
            "CREATE TABLE marker (value TEXT)",
            f"INSERT INTO marker VALUES ('{marker}')",
            "CREATE TABLE e2e_one_time_keys_json (key TEXT)",
            "INSERT INTO e2e_one_time_keys_json VALUES ('k1'), ('k2')",
        )

    def test_replaces_the_database_drops_its_stale_log_and_empties_one_time_keys(self):
        self.database(self.data / "homeserver.db", "replaced")
        (self.data / "homeserver.db-wal").write_bytes(b"stale write-ahead log")
        (self.data / "homeserver.db-shm").write_bytes(b"stale shared memory")
        self.database(self.data / "homeserver.db.restoring", "restored")
        self.script.put_in_place("homeserver.db.restoring")
        self.assertEqual(sorted(path.name for path in self.data.iterdir()), ["homeserver.db"])
        connection = sqlite3.connect(self.data / "homeserver.db")
        self.assertEqual(connection.execute("SELECT value FROM marker").fetchone()[0], "restored")
        self.assertEqual(connection.execute("SELECT count(*) FROM e2e_one_time_keys_json").fetchone()[0], 0)
        connection.close()

    def test_without_the_copy_nothing_changes(self):
        self.database(self.data / "homeserver.db", "kept")
        with self.assertRaises(SystemExit):
            self.script.put_in_place("homeserver.db.restoring")
        connection = sqlite3.connect(self.data / "homeserver.db")
        self.assertEqual(connection.execute("SELECT value FROM marker").fetchone()[0], "kept")
        connection.close()


if __name__ == "__main__":
    unittest.main()
