"""One row of a query (query_row.py) on a real SQLite database in a data folder of the test's own."""

import sqlite3
import unittest

from shipped import OnDataFolder, sqlite_file


class QueryRow(OnDataFolder):
    SCRIPT = "query_row"

    def test_prints_the_columns_separated_by_spaces_and_null_as_none(self):
        sqlite_file(self.data / "homeserver.db", "CREATE TABLE schema_version (version INTEGER)", "INSERT INTO schema_version VALUES (93)")
        self.assertEqual(self.script.query_row("SELECT (SELECT version FROM schema_version), NULL, 'a'"), "93 None a")

    def test_a_missing_database_is_an_error_and_stays_missing(self):
        with self.assertRaises(sqlite3.OperationalError):
            self.script.query_row("SELECT 1")
        self.assertFalse((self.data / "homeserver.db").exists())


if __name__ == "__main__":
    unittest.main()
