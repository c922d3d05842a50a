"""The stack's own Prometheus exporter: what neither Synapse nor PostgreSQL measures, for the alerts on it.

- every data volume's filesystem, size and free bytes (each is mounted read-only under /volumes/<name>);
- the backups in the stack's backup folder (mounted read-only at /backups): how many, the newest one's time, and the
  operator's limit on its age, so the alert rule needs no templating;
- the certificate the edge serves: its validity, read from a TLS handshake like any client's.

Run by the monitoring component in a container of the Synapse image (its Python and `cryptography`), as the user who
owns the backup folder, with no capability and on the internal metrics network only. Usage:
    stack_exporter.py PORT [--backups MAX_AGE_SECONDS] [--certificate HOST:PORT SNI]
"""

import datetime
import http.server
import os
import socket
import ssl
import sys

VOLUMES = "/volumes"
BACKUPS = "/backups"


def volume_lines(root=None):
    root = root or VOLUMES
    lines = []
    for name in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        try:
            stats = os.statvfs(os.path.join(root, name))
        except OSError:
            continue
        lines.append(f'synapse_stack_volume_size_bytes{{volume="{name}"}} {stats.f_blocks * stats.f_frsize}')
        # What an unprivileged writer (Synapse, PostgreSQL) can still use: the blocks reserved for root do not count.
        lines.append(f'synapse_stack_volume_free_bytes{{volume="{name}"}} {stats.f_bavail * stats.f_frsize}')
    return lines


def backup_lines(max_age_seconds, root=None):
    root = root or BACKUPS
    lines = [f"synapse_stack_backup_max_age_seconds {max_age_seconds}"]
    try:
        # Whole archives only: backup writes <stack>-<stamp>.tar.gz.partial and renames it when complete.
        names = [name for name in os.listdir(root) if name.endswith(".tar.gz")]
    except OSError:
        # Not this user's to read (or gone): no count, so neither backup alert can tell; this one can.
        return lines + ["synapse_stack_backups_readable 0"]
    times = []
    for name in names:
        try:
            times.append(os.stat(os.path.join(root, name)).st_mtime)
        except OSError:
            pass  # rotated away between the listing and now
    lines += ["synapse_stack_backups_readable 1", f"synapse_stack_backups {len(times)}"]
    if times:
        lines.append(f"synapse_stack_backup_newest_timestamp_seconds {max(times):.0f}")
    return lines


def served_certificate(address, server_name, timeout=5):
    """The DER certificate a TLS server presents for server_name; unverified: its dates are all that is read."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        with context.wrap_socket(connection, server_hostname=server_name) as tls:
            return tls.getpeercert(binary_form=True)


def certificate_lines(der, server_name):
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(der)
    label = f'{{host="{server_name}"}}'
    # cryptography before 42 has only the naive UTC datetimes.
    not_before = getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before.replace(tzinfo=datetime.timezone.utc)
    not_after = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after.replace(tzinfo=datetime.timezone.utc)
    return [
        f"synapse_stack_certificate_not_before_timestamp_seconds{label} {not_before.timestamp():.0f}",
        f"synapse_stack_certificate_not_after_timestamp_seconds{label} {not_after.timestamp():.0f}",
    ]


def render(settings):
    lines = volume_lines()
    if settings.get("backups") is not None:
        lines += backup_lines(settings["backups"])
    if settings.get("certificate"):
        address, server_name = settings["certificate"]
        try:
            lines += certificate_lines(served_certificate(address, server_name), server_name)
            lines.append("synapse_stack_certificate_probe_success 1")
        except Exception:  # noqa: BLE001 -- whatever fails, the volumes and backups are still reported
            # The edge restarting or not serving yet (its own target says which), or a certificate that cannot be read.
            lines.append("synapse_stack_certificate_probe_success 0")
    lines.append(f"synapse_stack_exporter_scrape_timestamp_seconds {datetime.datetime.now(datetime.timezone.utc).timestamp():.0f}")
    return "\n".join(lines) + "\n"


def parse(arguments):
    settings = {"port": int(arguments[0])}
    rest = arguments[1:]
    while rest:
        option = rest.pop(0)
        if option == "--backups":
            settings["backups"] = int(rest.pop(0))
        elif option == "--certificate":
            settings["certificate"] = (rest.pop(0), rest.pop(0))
        else:
            raise SystemExit(f"stack_exporter: unknown option {option}")
    return settings


def serve(settings):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path == "/health":
                body = b"ok\n"
            elif self.path == "/metrics":
                body = render(settings).encode()
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    http.server.ThreadingHTTPServer(("0.0.0.0", settings["port"]), Handler).serve_forever()


if __name__ == "__main__":
    serve(parse(sys.argv[1:]))
