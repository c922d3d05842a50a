"""Make the stack's admin exist, be an admin and have exactly the requested password.

Runs inside the homeserver container as the homeserver's uid:gid (`docker exec -i -u`), so it needs nothing on the
host but the Docker CLI. The Pulumi program sends one JSON line on stdin ({"user", "password", "configPaths",
"recordPath"}) followed by this script. stdout gets only the admin's user id and, on a second line, the id of the
signing key the homeserver runs with (after a restore, the restored one); stderr gets progress and errors, and never
the password.

1. If the password already logs in as an admin, nothing changes (a second `pulumi up`, a replaced container).
2. Else register the user through the shared-secret API (a fresh volume).
3. If the user exists with another password (rotation, or a kept volume under a new stack), a short-lived bootstrap
   admin sets the password with the admin API, which also logs out the old sessions, and is then deactivated.
4. If the stack's previous admin (recorded in the data volume) had another name, that account is deactivated, so no
   forgotten admin stays behind.

Only an explicit wrong-password answer (403 M_FORBIDDEN) leads to 3. Rate limits (429, honouring retry_after_ms),
server errors (5xx) and refused connections are retried with backoff until a deadline, then fail with a clear
message; they never reset the password or log anyone out.
"""

import errno
import hashlib
import hmac
import json
import os
import random
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# IPv4 loopback, not "localhost": where the container has no IPv6 address, ::1 answers "Cannot assign requested address".
BASE = "http://127.0.0.1:8008"
# How long transient failures (429, 5xx, connection refused) are retried before giving up.
RETRY_SECONDS = float(os.environ.get("ENSURE_ADMIN_RETRY_SECONDS", "180"))
SECRETS_TO_HIDE = []


def say(message):
    for secret in SECRETS_TO_HIDE:
        message = message.replace(secret, "[secret]")
    print(f"ensure_admin: {message}", file=sys.stderr, flush=True)


def fail(message):
    say(message)
    sys.exit(1)


class Transient(Exception):
    """A failure worth retrying: the homeserver is busy, starting or rate-limiting."""

    def __init__(self, description, wait=None, starting=False):
        super().__init__(description)
        self.wait = wait
        # Nothing listens yet: Synapse is still starting, which takes seconds; ask again soon, not with backoff.
        self.starting = starting


def call_once(method, path, body=None, token=None):
    """(status, decoded JSON body) of one request; raises Transient for 429, 5xx and connection failures."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        try:
            answer = json.loads(error.read() or b"{}")
        except ValueError:
            answer = {}
        if error.code == 429:
            wait = answer.get("retry_after_ms")
            raise Transient(f"HTTP 429 {answer.get('errcode', 'M_LIMIT_EXCEEDED')} (rate limited)", wait / 1000 if wait else None)
        if error.code >= 500:
            raise Transient(f"HTTP {error.code} {answer.get('errcode', '')}".rstrip())
        return error.code, answer
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        reason = getattr(error, "reason", error)
        # Nothing to connect to yet: Synapse is still starting. Waited for quietly, as a normal start is.
        starting = getattr(reason, "errno", None) in (errno.ECONNREFUSED, errno.EADDRNOTAVAIL)
        raise Transient(f"no answer ({reason})", starting=starting)


def call(method, path, body=None, token=None, body_factory=None):
    """call_once, retried with exponential backoff (or the server's retry_after_ms) until RETRY_SECONDS pass."""
    started = time.monotonic()
    delay = 0.5
    route = f"{method} {path.split('?')[0]}"
    while True:
        try:
            return call_once(method, path, body_factory() if body_factory else body, token)
        except Transient as problem:
            if problem.wait is not None:
                wait = problem.wait
            elif problem.starting:
                wait = 0.25
            else:
                wait = delay * (1 + random.random() / 4)
            elapsed = time.monotonic() - started
            if elapsed + wait > RETRY_SECONDS:
                why = (
                    f"kept failing for {elapsed:.0f} s, last with {problem}"
                    if problem.wait is None or elapsed + 1 >= RETRY_SECONDS
                    else f"answered {problem} and asks to wait {wait:.0f} s, longer than the {RETRY_SECONDS:.0f} s this step waits"
                )
                fail(f"{route} {why}; the admin was left as it was. Run `pulumi up` again when the homeserver answers.")
            if not problem.starting:
                say(f"{route}: {problem}; retrying in {wait:.1f} s")
                delay = min(delay * 2, 10)
            time.sleep(wait)


def read_config(paths):
    """Later files replace whole top-level keys, as Synapse itself merges them."""
    import yaml  # Synapse's own dependency, in the image; imported here so the retry rules test without it

    config = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            config.update(yaml.safe_load(handle) or {})
    return config


def shared_secret(config):
    if config.get("registration_shared_secret"):
        return config["registration_shared_secret"]
    if config.get("registration_shared_secret_path"):
        with open(config["registration_shared_secret_path"], encoding="utf-8") as handle:
            return handle.read().strip()
    fail("the homeserver config has no registration_shared_secret")


def register(secret, user, password, admin=True):
    def signed():
        # A nonce is single-use, so every retry needs a fresh one.
        status, body = call("GET", "/_synapse/admin/v1/register")
        if status != 200:
            fail(f"could not get a registration nonce (HTTP {status} {body.get('errcode', '')})")
        nonce = body["nonce"]
        mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), user.encode(), password.encode(), b"admin" if admin else b"notadmin"]))
        return {"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac.hexdigest()}

    return call("POST", "/_synapse/admin/v1/register", body_factory=signed)


def register_admin(secret, user, user_id, password):
    """A new admin's access token; None when the user exists and is not an admin with this password."""
    status, body = register(secret, user, password)
    if status == 200:
        return body["access_token"]
    if body.get("errcode") != "M_USER_IN_USE":
        fail(f"could not register {user_id} (HTTP {status} {body.get('errcode', '')})")
    # A registration of ours that timed out may have gone through all the same: then the password is ours.
    token = login(user_id, password)
    return token if token is not None and is_admin(user_id, token) else None


def login(user_id, password):
    """The access token, or None when the homeserver says the password is wrong."""
    status, body = call(
        "POST",
        "/_matrix/client/v3/login",
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}, "password": password},
    )
    if status == 200:
        return body["access_token"]
    if status == 403:
        return None
    fail(f"logging in as {user_id} answered HTTP {status} {body.get('errcode', '')}")


def is_admin(user_id, token):
    status, _ = call("GET", f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}", token=token)
    return status == 200


def deactivate(user_id, token):
    status, body = call("POST", f"/_synapse/admin/v1/deactivate/{urllib.parse.quote(user_id)}", {"erase": False}, token=token)
    if status != 200:
        say(f"could not deactivate {user_id} (HTTP {status} {body.get('errcode', '')})")
    return status == 200


def set_password_as_bootstrap_admin(secret, server_name, user_id, password):
    bootstrap_user = f"stack-bootstrap-{secrets.token_hex(6)}"
    token = register_admin(secret, bootstrap_user, f"@{bootstrap_user}:{server_name}", secrets.token_urlsafe(32))
    if token is None:
        fail("could not register a bootstrap admin: its random name was taken")
    try:
        status, body = call(
            "PUT",
            f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}",
            {"password": password, "admin": True, "deactivated": False, "logout_devices": True},
            token=token,
        )
        if status not in (200, 201):
            fail(f"could not set the admin's password (HTTP {status} {body.get('errcode', '')})")
    finally:
        deactivate(f"@{bootstrap_user}:{server_name}", token)


def previous_admin(record_path):
    try:
        with open(record_path, encoding="utf-8") as handle:
            return handle.read().strip() or None
    except FileNotFoundError:
        return None


def record_admin(record_path, user_id):
    temporary = f"{record_path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(user_id + "\n")
    os.replace(temporary, record_path)


def signing_key_id(config, server_name):
    """The id of the homeserver's signing key (its identity to other servers), e.g. ed25519:a_AbCd."""
    key_path = config.get("signing_key_path") or f"/data/{server_name}.signing.key"
    with open(key_path, encoding="utf-8") as handle:
        algorithm, version = handle.readline().split(" ", 2)[:2]
    return f"{algorithm}:{version}"


def main(request):
    user, password = request["user"], request["password"]
    SECRETS_TO_HIDE.append(password)
    config = read_config(request["configPaths"])
    server_name = config["server_name"]
    user_id = f"@{user}:{server_name}"

    token = login(user_id, password)
    if token is None or not is_admin(user_id, token):
        secret = shared_secret(config)
        token = register_admin(secret, user, user_id, password)
        if token is None:
            set_password_as_bootstrap_admin(secret, server_name, user_id, password)
            say(f"{user_id} existed with another password: set the requested one and logged out its old sessions")
            token = login(user_id, password)
    if token is None or not is_admin(user_id, token):
        fail(f"{user_id} still cannot log in as an admin with the requested password")

    previous = previous_admin(request["recordPath"])
    if previous and previous != user_id and deactivate(previous, token):
        say(f"deactivated the stack's previous admin {previous} (synapse:adminUser changed)")
    record_admin(request["recordPath"], user_id)

    # The check's own session is not one the operator asked for.
    call("POST", "/_matrix/client/v3/logout", {}, token=token)
    print(user_id)
    print(signing_key_id(config, server_name))


if __name__ == "__main__":
    try:
        main(globals().get("request") or json.loads(sys.stdin.readline()))
    except SystemExit:
        raise
    except Exception as error:  # noqa: BLE001 - the message, never the locals, reaches the user
        fail(f"unexpected {type(error).__name__}: {error}")
