#!/usr/bin/env python3
"""Make the stack's first admin exist, be an admin and have exactly the password given on stdin.

Runs inside the homeserver container (`docker exec -i`), so it needs nothing on the host but the Docker CLI.
Reads {"user": ..., "password": ...} as JSON from stdin and the homeserver config files named as arguments.
Prints only the admin's user id; never prints or logs the password.

1. If the password already logs in as an admin, nothing changes (a second `pulumi up`, a replaced container).
2. Else register the user through the shared-secret API (a fresh volume).
3. If the user exists with another password (rotation), a short-lived bootstrap admin, registered through the
   same API, sets the password with the admin API, which also logs out the old sessions, and is then deactivated.
"""

import hashlib
import hmac
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml

BASE = "http://localhost:8008"


def fail(message):
    print(f"ensure_admin: {message}", file=sys.stderr)
    sys.exit(1)


def call(method, path, body=None, token=None):
    """Returns (status, decoded JSON body) of one request to the local homeserver."""
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
            return error.code, json.loads(error.read() or b"{}")
        except ValueError:
            return error.code, {}


def read_config(paths):
    """Later files replace whole top-level keys, as Synapse itself merges them."""
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


def wait_until_serving(deadline_seconds=120):
    deadline = time.monotonic() + deadline_seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(BASE + "/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    fail(f"the homeserver did not answer /health within {deadline_seconds} s")


def register(secret, user, password, admin=True):
    status, body = call("GET", "/_synapse/admin/v1/register")
    if status != 200:
        fail(f"could not get a registration nonce (HTTP {status})")
    nonce = body["nonce"]
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha1)
    mac.update(b"\x00".join([nonce.encode(), user.encode(), password.encode(), b"admin" if admin else b"notadmin"]))
    return call(
        "POST",
        "/_synapse/admin/v1/register",
        {"nonce": nonce, "username": user, "password": password, "admin": admin, "mac": mac.hexdigest()},
    )


def login(user, password):
    status, body = call(
        "POST",
        "/_matrix/client/v3/login",
        {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user}, "password": password},
    )
    return body.get("access_token") if status == 200 else None


def is_admin(user_id, token):
    status, _ = call("GET", f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}", token=token)
    return status == 200


def set_password_as_bootstrap_admin(secret, server_name, user_id, password):
    bootstrap_user = f"stack-bootstrap-{secrets.token_hex(6)}"
    status, body = register(secret, bootstrap_user, secrets.token_urlsafe(32))
    if status != 200:
        fail(f"could not register a bootstrap admin (HTTP {status} {body.get('errcode', '')})")
    token = body["access_token"]
    try:
        status, body = call(
            "PUT",
            f"/_synapse/admin/v2/users/{urllib.parse.quote(user_id)}",
            {"password": password, "admin": True, "logout_devices": True},
            token=token,
        )
        if status not in (200, 201):
            fail(f"could not set the admin's password (HTTP {status} {body.get('errcode', '')})")
    finally:
        bootstrap_id = urllib.parse.quote(f"@{bootstrap_user}:{server_name}")
        call("POST", f"/_synapse/admin/v1/deactivate/{bootstrap_id}", {"erase": True}, token=token)


def main():
    if len(sys.argv) < 2:
        fail("usage: ensure_admin.py CONFIG [CONFIG ...] < {\"user\": ..., \"password\": ...}")
    request = json.load(sys.stdin)
    user, password = request["user"], request["password"]
    config = read_config(sys.argv[1:])
    server_name = config["server_name"]
    user_id = f"@{user}:{server_name}"
    wait_until_serving()

    token = login(user, password)
    if token is None or not is_admin(user_id, token):
        secret = shared_secret(config)
        status, body = register(secret, user, password)
        if status == 200:
            token = body["access_token"]
        elif body.get("errcode") == "M_USER_IN_USE":
            set_password_as_bootstrap_admin(secret, server_name, user_id, password)
            token = login(user, password)
        else:
            fail(f"could not register {user_id} (HTTP {status} {body.get('errcode', '')})")
    if token is None or not is_admin(user_id, token):
        fail(f"{user_id} still cannot log in as an admin with the requested password")
    # The check's own session is not one the operator asked for.
    call("POST", "/_matrix/client/v3/logout", {}, token=token)
    print(user_id)


if __name__ == "__main__":
    main()
