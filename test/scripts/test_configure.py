"""The generate step's refusal to run SQLite on data the stack moved to PostgreSQL, on a data folder of its own."""

import contextlib
import importlib.util
import io
import os
import pathlib
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "packages" / "synapse" / "scripts" / "configure.py"


class OnDataFolder(unittest.TestCase):
    """configure.py loaded afresh, its /data a temporary folder of the test's own."""

    def setUp(self):
        data = tempfile.TemporaryDirectory()
        self.addCleanup(data.cleanup)
        self.data = pathlib.Path(data.name)
        spec = importlib.util.spec_from_file_location("configure", SCRIPT)
        self.configure = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.configure)
        self.configure.DATA = data.name


class RefuseSqliteAfterPort(OnDataFolder):

    def test_sqlite_on_ported_data_is_refused(self):
        (self.data / "synapse-stack-ported").write_text("ported")
        err = io.StringIO()
        with self.assertRaises(SystemExit) as refused, contextlib.redirect_stderr(err):
            self.configure.refuse_sqlite_after_port('{"public_baseurl": "http://127.0.0.1:8008/"}', "synapse-dev-data")
        self.assertEqual(refused.exception.code, 1)
        self.assertIn("the data in volume synapse-dev-data was moved to PostgreSQL", err.getvalue())
        self.assertIn("Set synapse:database postgres", err.getvalue())

    def test_postgres_on_ported_data_passes(self):
        (self.data / "synapse-stack-ported").write_text("ported")
        self.configure.refuse_sqlite_after_port('{"database": {"name": "psycopg2"}}', "synapse-dev-data")

    def test_sqlite_without_a_port_passes(self):
        self.configure.refuse_sqlite_after_port("{}", "synapse-dev-data")


class WriteOverlay(OnDataFolder):
    """Overlays are never rewritten in place; every one no container runs with is removed."""

    def setUp(self):
        super().setUp()
        self.folder = self.data / "synapse-stack"
        self.ids = os.getuid(), os.getgid()

    def write(self, name, content, in_use=""):
        path = str(self.folder / name)
        self.configure.write_overlay(path, content, in_use, *self.ids)
        return path

    def test_writes_a_private_file_of_its_own(self):
        path = self.write("config-aaaa.yaml", "{}")
        self.assertEqual(pathlib.Path(path).read_text(), "{}")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(self.folder).st_mode & 0o777, 0o700)

    def test_keeps_the_overlay_a_container_runs_with_and_removes_the_rest(self):
        running = self.write("config-aaaa.yaml", "running")
        stale = self.write("config-bbbb.yaml", "stale", in_use=f"run --config-path /data/homeserver.yaml --config-path {running}")
        legacy = self.data / "synapse-stack.yaml"
        legacy.write_text("legacy")
        new = self.write("config-cccc.yaml", "new", in_use=f"run --config-path /data/homeserver.yaml --config-path {running}")
        self.assertEqual(pathlib.Path(running).read_text(), "running", "the running homeserver's config is untouched")
        self.assertEqual(pathlib.Path(new).read_text(), "new")
        self.assertFalse(os.path.exists(stale), "an overlay no container runs with is removed")
        self.assertFalse(legacy.exists(), "so is the legacy overlay, when no container runs with it")

    def test_keeps_the_legacy_overlay_while_a_container_runs_with_it(self):
        legacy = self.data / "synapse-stack.yaml"
        legacy.write_text("legacy")
        self.write("config-aaaa.yaml", "new", in_use=f"run --config-path /data/homeserver.yaml --config-path {legacy}")
        self.assertTrue(legacy.exists())


if __name__ == "__main__":
    unittest.main()
