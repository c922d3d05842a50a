"""Which database an overlay config says the homeserver runs on (running_database.py)."""

import unittest

from shipped import OnDataFolder


class RunningDatabase(OnDataFolder):
    SCRIPT = "running_database"

    def overlay(self, text):
        path = self.data / "config.yaml"
        path.write_text(text)
        return str(path)

    def test_postgres_is_named_by_its_driver(self):
        self.assertEqual(self.script.database_name(self.overlay('{"database": {"name": "psycopg2", "args": {}}}')), "psycopg2")

    def test_an_overlay_without_a_database_block_keeps_sqlite(self):
        self.assertEqual(self.script.database_name(self.overlay('{"public_baseurl": "http://127.0.0.1:8008/"}')), "sqlite3")
        self.assertEqual(self.script.database_name(self.overlay("")), "sqlite3")

    def test_a_missing_overlay_means_sqlite(self):
        self.assertEqual(self.script.database_name(str(self.data / "synapse-stack.yaml")), "sqlite3")


if __name__ == "__main__":
    unittest.main()
