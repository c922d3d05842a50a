"""The generate step's refusal to run SQLite on data the stack moved to PostgreSQL, on a data folder of its own."""

import contextlib
import importlib.util
import io
import pathlib
import tempfile
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "components" / "scripts" / "configure.py"


class RefuseSqliteAfterPort(unittest.TestCase):
    def setUp(self):
        data = tempfile.TemporaryDirectory()
        self.addCleanup(data.cleanup)
        self.data = pathlib.Path(data.name)
        spec = importlib.util.spec_from_file_location("configure", SCRIPT)
        self.configure = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.configure)
        self.configure.DATA = data.name

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


if __name__ == "__main__":
    unittest.main()
