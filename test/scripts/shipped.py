"""What the tests of the package's scripts share: loading a script of packages/synapse/scripts afresh, as a module,
with its /data a temporary folder of the test's own."""

import importlib.util
import pathlib
import sqlite3
import tempfile
import unittest

SCRIPTS = pathlib.Path(__file__).resolve().parents[2] / "packages" / "synapse" / "scripts"


def load(name):
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class OnDataFolder(unittest.TestCase):
    """The script named SCRIPT as self.script, its DATA the temporary folder self.data."""

    SCRIPT = ""

    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.data = pathlib.Path(folder.name)
        self.script = load(self.SCRIPT)
        self.script.DATA = folder.name


def sqlite_file(path, *statements):
    """A real SQLite database at path, made by the statements."""
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()
