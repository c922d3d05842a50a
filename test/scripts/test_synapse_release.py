"""The release and schema an image's Synapse reports (synapse_release.py), from a stand-in synapse package."""

import sys
import types
import unittest
from unittest import mock

from shipped import load


class Release(unittest.TestCase):
    def setUp(self):
        synapse = types.ModuleType("synapse")
        synapse.__version__ = "1.150.0"
        storage = types.ModuleType("synapse.storage")
        schema = types.ModuleType("synapse.storage.schema")
        schema.SCHEMA_VERSION = 93
        stand_ins = mock.patch.dict(sys.modules, {"synapse": synapse, "synapse.storage": storage, "synapse.storage.schema": schema})
        stand_ins.start()
        self.addCleanup(stand_ins.stop)

    def test_reports_the_version_and_schema(self):
        self.assertEqual(load("synapse_release").release(), {"version": "1.150.0", "schema": 93})


if __name__ == "__main__":
    unittest.main()
