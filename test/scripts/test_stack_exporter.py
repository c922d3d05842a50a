"""The stack exporter's metrics (stack_exporter.py), from real folders, archives and a certificate made here."""

import datetime
import os
import pathlib
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shipped import load


def metrics(lines):
    return dict(line.rsplit(" ", 1) for line in lines)


class Exporter(unittest.TestCase):
    def setUp(self):
        folder = tempfile.TemporaryDirectory()
        self.addCleanup(folder.cleanup)
        self.root = pathlib.Path(folder.name)
        self.script = load("stack_exporter")

    def test_each_volume_has_its_size_and_free_bytes(self):
        for name in ("homeserver-data", "homeserver-db"):
            (self.root / name).mkdir()
        found = metrics(self.script.volume_lines(str(self.root)))
        stats = os.statvfs(self.root)
        self.assertEqual(int(found['synapse_stack_volume_size_bytes{volume="homeserver-db"}']), stats.f_blocks * stats.f_frsize)
        self.assertIn('synapse_stack_volume_free_bytes{volume="homeserver-data"}', found)
        self.assertEqual(len(found), 4)

    def test_backups_count_whole_archives_only(self):
        for name, age in (("prod-20261101.tar.gz", 86400 * 3), ("prod-20261130.tar.gz", 3600), ("prod-20261201.tar.gz.partial", 0)):
            path = self.root / name
            path.write_bytes(b"x")
            stamp = datetime.datetime.now().timestamp() - age
            os.utime(path, (stamp, stamp))
        found = metrics(self.script.backup_lines(604800, str(self.root)))
        self.assertEqual(found["synapse_stack_backups"], "2")
        self.assertEqual(found["synapse_stack_backup_max_age_seconds"], "604800")
        self.assertAlmostEqual(float(found["synapse_stack_backup_newest_timestamp_seconds"]), datetime.datetime.now().timestamp() - 3600, delta=5)

    def test_no_backup_yet_has_no_newest_time(self):
        found = metrics(self.script.backup_lines(604800, str(self.root)))
        self.assertEqual((found["synapse_stack_backups"], found["synapse_stack_backups_readable"]), ("0", "1"))
        self.assertNotIn("synapse_stack_backup_newest_timestamp_seconds", found)

    def test_a_folder_it_cannot_read_is_said_so(self):
        found = metrics(self.script.backup_lines(604800, str(self.root / "missing")))
        self.assertEqual(found["synapse_stack_backups_readable"], "0")
        self.assertNotIn("synapse_stack_backups", found)

    def test_an_archive_rotated_away_while_it_looks_is_not_counted(self):
        (self.root / "prod-1.tar.gz").write_bytes(b"x")
        real_stat = os.stat

        def gone(path, *args, **kwargs):
            if str(path).endswith("prod-1.tar.gz"):
                raise FileNotFoundError(path)
            return real_stat(path, *args, **kwargs)

        self.script.os.stat = gone
        self.addCleanup(setattr, self.script.os, "stat", real_stat)
        self.assertEqual(metrics(self.script.backup_lines(60, str(self.root)))["synapse_stack_backups"], "0")

    def test_a_failed_probe_leaves_the_other_figures(self):
        self.script.VOLUMES = str(self.root)
        (self.root / "homeserver-data").mkdir()
        found = metrics(self.script.render({"certificate": ("127.0.0.1:1", "matrix.example.org")}).strip().split("\n"))
        self.assertEqual(found["synapse_stack_certificate_probe_success"], "0")
        self.assertIn('synapse_stack_volume_free_bytes{volume="homeserver-data"}', found)

    def test_the_certificate_dates_are_its_own(self):
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "matrix.example.org")])
        start = datetime.datetime(2026, 12, 1, 8, tzinfo=datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key()).serial_number(1)
            .not_valid_before(start).not_valid_after(start + datetime.timedelta(hours=12)).sign(key, hashes.SHA256())
        )
        found = metrics(self.script.certificate_lines(certificate.public_bytes(serialization.Encoding.DER), "matrix.example.org"))
        self.assertEqual(found['synapse_stack_certificate_not_before_timestamp_seconds{host="matrix.example.org"}'], f"{start.timestamp():.0f}")
        self.assertEqual(int(found['synapse_stack_certificate_not_after_timestamp_seconds{host="matrix.example.org"}']) - int(start.timestamp()), 43200)

    def test_options(self):
        self.assertEqual(self.script.parse(["9101", "--backups", "3600", "--certificate", "edge:443", "matrix.example.org"]), {"port": 9101, "backups": 3600, "certificate": ("edge:443", "matrix.example.org")})
        with self.assertRaises(SystemExit):
            self.script.parse(["9101", "--verbose"])


if __name__ == "__main__":
    unittest.main()
