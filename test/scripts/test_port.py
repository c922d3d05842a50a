"""The port's steps (port.py) on a data folder of the test's own, with real SQLite files; Synapse's own tools are
stand-ins that record how they were called."""

import json
import os
import pathlib
import sqlite3
import tempfile
import unittest

import yaml

from shipped import OnDataFolder, sqlite_file


class Recorder:
    """Stands in for subprocess.run: records each command, answers with an exit code."""

    def __init__(self, returncode=0):
        self.calls = []
        self.returncode = returncode

    def __call__(self, argv, check=False):
        self.calls.append(argv)
        return type("Completed", (), {"returncode": self.returncode})()


class OnPortData(OnDataFolder):
    """port.py with a homeserver.yaml in its data folder, and a /tmp of its own."""

    SCRIPT = "port"

    def setUp(self):
        super().setUp()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = pathlib.Path(tmp.name)
        self.port = self.script
        self.port.TMP = tmp.name
        (self.data / "homeserver.yaml").write_text(yaml.safe_dump({"server_name": "example.org", "database": {"name": "sqlite3"}}))

    def homeserver_db(self, users=2):
        # With auto-vacuum on, which synapse_port_db refuses.
        sqlite_file(
            self.data / "homeserver.db",
            "PRAGMA auto_vacuum = FULL",
            "CREATE TABLE users (name TEXT)",
            *(f"INSERT INTO users VALUES ('@u{i}:example.org')" for i in range(users)),
        )


class Status(OnPortData):
    def test_counts_the_users_of_unported_data(self):
        self.homeserver_db(users=3)
        self.assertEqual(self.port.status(), {"ported": False, "attempted": False, "users": 3})

    def test_without_a_database_there_is_nothing_to_port(self):
        self.assertEqual(self.port.status()["users"], -1)

    def test_ported_data_is_not_read_again(self):
        (self.data / "synapse-stack-ported").write_text("ported")
        (self.data / "homeserver.db").write_text("not a database: reading it would fail")
        self.assertEqual(self.port.status(), {"ported": True, "attempted": False, "users": -1})

    def test_says_when_an_attempt_began(self):
        self.homeserver_db()
        (self.data / "synapse-stack-porting").write_text("porting")
        self.assertTrue(self.port.status()["attempted"])


class Prepare(OnPortData):
    def test_marks_the_attempt_and_snapshots_without_auto_vacuum(self):
        self.homeserver_db(users=2)
        original = (self.data / "homeserver.db").read_bytes()
        tools = Recorder()
        self.port.prepare(run=tools)
        self.assertTrue((self.data / "synapse-stack-porting").exists(), "the attempt is marked before PostgreSQL is touched")
        snapshot = self.data / "synapse-stack-port" / "homeserver.db"
        copy = sqlite3.connect(snapshot)
        self.assertEqual(copy.execute("PRAGMA auto_vacuum").fetchone()[0], 0)
        self.assertEqual(copy.execute("SELECT count(*) FROM users").fetchone()[0], 2)
        copy.close()
        self.assertEqual((self.data / "homeserver.db").read_bytes(), original, "the original is only read")
        sqlite_config = self.data / "synapse-stack-port" / "sqlite.yaml"
        config = yaml.safe_load(sqlite_config.read_text())
        self.assertEqual(config["database"], {"name": "sqlite3", "args": {"database": str(snapshot)}})
        self.assertEqual(config["server_name"], "example.org", "the rest of homeserver.yaml stays")
        self.assertEqual(tools.calls, [["update_synapse_database", "--database-config", str(sqlite_config), "--run-background-updates"]])

    def test_starts_from_a_new_snapshot_each_time(self):
        self.homeserver_db()
        leftover = self.data / "synapse-stack-port" / "leftover"
        leftover.parent.mkdir()
        leftover.write_text("from a failed attempt")
        self.port.prepare(run=Recorder())
        self.assertFalse(leftover.exists())


class Port(OnPortData):
    DATABASE = {"name": "psycopg2", "args": {"user": "synapse", "password": "hunter2", "host": "db"}}

    def test_ports_the_snapshot_with_the_database_block_in_a_private_file(self):
        tools = Recorder(returncode=0)
        self.assertEqual(self.port.port(self.DATABASE, run=tools), 0)
        postgres_config = self.tmp / "postgres.yaml"
        self.assertEqual(os.stat(postgres_config).st_mode & 0o777, 0o600)
        config = yaml.safe_load(postgres_config.read_text())
        self.assertEqual(config["database"], self.DATABASE)
        self.assertEqual(config["server_name"], "example.org")
        snapshot = str(self.data / "synapse-stack-port" / "homeserver.db")
        self.assertEqual(tools.calls, [["synapse_port_db", "--sqlite-database", snapshot, "--postgres-config", str(postgres_config)]])
        self.assertNotIn("hunter2", json.dumps(tools.calls), "the password is in the file only, never an argument")

    def test_reports_the_tools_failure(self):
        self.assertEqual(self.port.port(self.DATABASE, run=Recorder(returncode=3)), 3)


class Finish(OnPortData):
    def test_marks_the_data_ported_and_cleans_up(self):
        (self.data / "synapse-stack-porting").write_text("porting")
        (self.data / "synapse-stack-port").mkdir()
        (self.data / "synapse-stack-port" / "homeserver.db").write_text("snapshot")
        self.port.finish()
        self.assertEqual((self.data / "synapse-stack-ported").read_text(), "ported")
        self.assertFalse((self.data / "synapse-stack-porting").exists())
        self.assertFalse((self.data / "synapse-stack-port").exists())


class Steps(OnPortData):
    def test_an_unknown_step_is_refused(self):
        with self.assertRaises(SystemExit) as refused:
            self.port.main({"step": "migrate"})
        self.assertEqual(refused.exception.code, 2)


if __name__ == "__main__":
    unittest.main()
