"""The admin step's retry rules against a stand-in homeserver on loopback: which answers are retried, how long it
waits, and that only a wrong password leads to a reset. The real homeserver's 429 is exercised end to end."""

import http.server
import importlib.util
import json
import pathlib
import threading
import time
import unittest

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "packages" / "synapse" / "scripts" / "ensure_admin.py"


def load_script():
    spec = importlib.util.spec_from_file_location("ensure_admin", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Homeserver(http.server.BaseHTTPRequestHandler):
    """Answers each request with the next scripted (status, body) pair and records when it was asked."""

    answers = []
    seen = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        Homeserver.seen.append((self.path, time.monotonic()))
        status, body = Homeserver.answers.pop(0)
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST  # noqa: N815 - http.server's naming

    def log_message(self, *args):
        pass


class RetryRules(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Homeserver)
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()

    def setUp(self):
        self.script = load_script()
        self.script.BASE = f"http://127.0.0.1:{self.server.server_address[1]}"
        Homeserver.seen.clear()

    def test_waits_out_a_rate_limit_as_told_then_logs_in(self):
        Homeserver.answers[:] = [(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 700}), (200, {"access_token": "t"})]
        self.assertEqual(self.script.login("@admin:example.org", "pw"), "t")
        self.assertGreaterEqual(Homeserver.seen[1][1] - Homeserver.seen[0][1], 0.7)

    def test_retries_server_errors_with_backoff(self):
        Homeserver.answers[:] = [(502, {}), (503, {}), (200, {"access_token": "t"})]
        self.assertEqual(self.script.login("@admin:example.org", "pw"), "t")
        self.assertEqual(len(Homeserver.seen), 3)

    def test_a_wrong_password_is_the_only_answer_that_means_reset(self):
        Homeserver.answers[:] = [(403, {"errcode": "M_FORBIDDEN"})]
        self.assertIsNone(self.script.login("@admin:example.org", "pw"))

    def test_gives_up_with_a_clear_message_when_the_wait_outlasts_the_deadline(self):
        self.script.RETRY_SECONDS = 5
        Homeserver.answers[:] = [(429, {"errcode": "M_LIMIT_EXCEEDED", "retry_after_ms": 60_000})]
        with self.assertRaises(SystemExit), self.captured() as stderr:
            self.script.login("@admin:example.org", "s3cret-password")
        message = stderr.getvalue()
        self.assertIn(
            "POST /_matrix/client/v3/login answered HTTP 429 M_LIMIT_EXCEEDED (rate limited) and asks to wait 60 s, "
            "longer than the 5 s this step waits; the admin was left as it was",
            message,
        )
        self.assertNotIn("s3cret-password", message)

    def test_refused_connections_are_retried_until_the_deadline(self):
        self.script.BASE = "http://127.0.0.1:9"  # discard: nothing listens
        self.script.RETRY_SECONDS = 1.5
        started = time.monotonic()
        with self.assertRaises(SystemExit), self.captured() as stderr:
            self.script.login("@admin:example.org", "pw")
        self.assertGreaterEqual(time.monotonic() - started, 0.5)
        self.assertRegex(stderr.getvalue(), r"POST /_matrix/client/v3/login kept failing for \d+ s, last with no answer")

    def test_waits_for_a_starting_homeserver_without_a_word(self):
        # While Synapse boots nothing listens: a refused connection, or no address to connect from, is no failure.
        import errno
        import urllib.error
        import urllib.request

        real = urllib.request.urlopen
        failures = [ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address")]

        def booting(request, timeout):
            if failures:
                raise urllib.error.URLError(failures.pop(0))
            return real(request, timeout=timeout)

        self.script.urllib.request.urlopen = booting
        self.addCleanup(setattr, self.script.urllib.request, "urlopen", real)
        Homeserver.answers[:] = [(200, {"access_token": "t"})]
        with self.captured() as stderr:
            self.assertEqual(self.script.login("@admin:example.org", "pw"), "t")
        self.assertEqual(stderr.getvalue(), "", "a normal start prints nothing that looks like a failure")

    def test_a_registration_that_timed_out_but_went_through_is_adopted_not_reset(self):
        # Main can take longer than the client's timeout to register while a stream writer starts; the retry then
        # finds the name taken, by the first attempt.
        Homeserver.answers[:] = [
            (200, {"nonce": "n"}),
            (400, {"errcode": "M_USER_IN_USE"}),
            (200, {"access_token": "t"}),
            (200, {"admin": True}),
        ]
        self.assertEqual(self.script.register_admin("secret", "admin", "@admin:example.org", "pw"), "t")
        self.assertEqual([path.split("?")[0] for path, _ in Homeserver.seen][1:], ["/_synapse/admin/v1/register", "/_matrix/client/v3/login", "/_synapse/admin/v2/users/%40admin%3Aexample.org"])

    def test_a_taken_name_with_another_password_still_means_reset(self):
        Homeserver.answers[:] = [(200, {"nonce": "n"}), (400, {"errcode": "M_USER_IN_USE"}), (403, {"errcode": "M_FORBIDDEN"})]
        self.assertIsNone(self.script.register_admin("secret", "admin", "@admin:example.org", "pw"))

    def test_never_prints_the_password(self):
        self.script.SECRETS_TO_HIDE.append("hunter2hunter2")
        with self.assertRaises(SystemExit), self.captured() as stderr:
            self.script.fail("could not use hunter2hunter2")
        self.assertEqual(stderr.getvalue(), "ensure_admin: could not use [secret]\n")

    def captured(self):
        import contextlib
        import io

        return contextlib.redirect_stderr(io.StringIO())


if __name__ == "__main__":
    unittest.main()
