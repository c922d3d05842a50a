"""Prepare the data volume for the homeserver: the manual recipe's `generate` step, made safe to repeat.

Runs as root in a one-shot container of the Synapse image, without network, with /data mounted. The Pulumi program
sends one JSON line on stdin ({"serverName", "volumeName", "overlay", "overlayPath", "filesDir", "files"}) followed by
this script; the
overlay may hold secrets, so nothing here prints it. Progress and errors go to stderr; stdout gets one JSON line,
{"serverName", "signingKeyId", "sqliteData"}.

1. A volume whose homeserver.yaml names another server is refused: a Matrix server name is permanent. So is SQLite
   on a volume whose data the stack moved to PostgreSQL.
2. Data owned by someone other than UID:GID (a changed uid/gid, an adopted volume) is re-owned, so the homeserver,
   which runs as UID:GID without capabilities, can read and write all of it.
3. The image's own `generate` runs with the recipe's variables; it keeps every file that exists and adds what is
   missing (config, log config, signing key).
4. The stack's overlay config is written to its own file (named by its fingerprint, in a folder of overlays), mode
   0600, owned by UID:GID, and its extra files (the federation CA roots) into their own folder, which holds nothing
   else. Overlay files are never rewritten: a running homeserver restarts on the one it was made with. Every other
   overlay is removed, except those the containers named in SYNAPSE_STACK_IN_USE (their arguments) run with.
"""

import json
import os
import subprocess
import sys

import yaml

DATA = "/data"


def fail(message):
    print(f"configure: {message}", file=sys.stderr)
    sys.exit(1)


def existing_server_name(config_path):
    if not os.path.exists(config_path):
        return None
    with open(config_path, encoding="utf-8") as handle:
        return (yaml.safe_load(handle) or {}).get("server_name")


def reown(uid, gid):
    """Gives every file under /data to uid:gid; returns the previous owners of what changed."""
    changed, owners = 0, set()
    for root, dirs, files in os.walk(DATA):
        # Directories are visited as roots of their own, except links to directories, which walk does not follow.
        links = [name for name in dirs if os.path.islink(os.path.join(root, name))]
        for path in [root, *(os.path.join(root, name) for name in files + links)]:
            info = os.lstat(path)
            if (info.st_uid, info.st_gid) != (uid, gid):
                os.lchown(path, uid, gid)
                changed += 1
                owners.add(f"{info.st_uid}:{info.st_gid}")
    return changed, owners


def write_private(path, content, uid, gid):
    """Writes content atomically, readable only by uid."""
    temporary = f"{path}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chown(temporary, uid, gid)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def write_overlay(path, content, in_use, uid, gid):
    """Writes the overlay to its own file and removes the overlays no container runs with (the legacy one too)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chown(folder, uid, gid)
    os.chmod(folder, 0o700)
    write_private(path, content, uid, gid)
    kept = set(in_use.split())
    legacy = os.path.join(DATA, "synapse-stack.yaml")
    stale = [os.path.join(folder, name) for name in os.listdir(folder) if name.endswith(".yaml")] + [legacy]
    for old in stale:
        if old != path and old not in kept and os.path.exists(old):
            os.remove(old)


def write_files(directory, files, uid, gid):
    """Replaces the stack's extra files (federation CA roots) in their own folder under /data."""
    if not directory:
        return
    folder = os.path.join(DATA, directory)
    os.makedirs(folder, exist_ok=True)
    os.chown(folder, uid, gid)
    for name in os.listdir(folder):
        if name not in files:
            os.remove(os.path.join(folder, name))
    for name, content in files.items():
        write_private(os.path.join(folder, name), content, uid, gid)


def sqlite_state():
    """Users in homeserver.db (0 without one), and whether the stack already ported it to PostgreSQL."""
    import sqlite3

    ported = os.path.exists(os.path.join(DATA, "synapse-stack-ported"))
    path = os.path.join(DATA, "homeserver.db")
    if not os.path.exists(path):
        return 0, ported
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        return connection.execute("SELECT count(*) FROM users").fetchone()[0], ported
    except sqlite3.Error:
        return 0, ported


def signing_key_id(config_path, server_name):
    with open(config_path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    key_path = config.get("signing_key_path") or os.path.join(DATA, f"{server_name}.signing.key")
    with open(key_path, encoding="utf-8") as handle:
        algorithm, version, _ = handle.readline().split(" ", 2)
    return f"{algorithm}:{version}"


def refuse_sqlite_after_port(overlay, volume_name):
    """A volume whose SQLite data the stack moved to PostgreSQL may not run on SQLite again: it would serve the old
    data, and the update would then remove the PostgreSQL server and its volume, with everything written since."""
    on_postgres = "database" in (yaml.safe_load(overlay) or {})
    if not on_postgres and os.path.exists(os.path.join(DATA, "synapse-stack-ported")):
        fail(
            f"the data in volume {volume_name} was moved to PostgreSQL (synapse_port_db), but synapse:database is sqlite: "
            "the SQLite copy is out of date, and this update would remove the PostgreSQL server and its volume. "
            "Set synapse:database postgres."
        )


def main(request):
    server_name = request["serverName"]
    uid, gid = int(os.environ["UID"]), int(os.environ["GID"])
    config_path = os.path.join(DATA, "homeserver.yaml")

    found = existing_server_name(config_path)
    if found is not None and found != server_name:
        fail(
            f"volume {request['volumeName']} holds the homeserver of {found}, but synapse:serverName is {server_name}: "
            "a Matrix server name is permanent (it is in every user and room id and in the signing identity). "
            f"Set synapse:serverName to {found} to run this data, or use a new volume for {server_name}."
        )

    refuse_sqlite_after_port(request["overlay"], request["volumeName"])

    changed, owners = reown(uid, gid)
    if changed > 1:
        print(f"configure: re-owned {changed} files from {', '.join(sorted(owners))} to {uid}:{gid}", file=sys.stderr)

    generated = subprocess.run(["/start.py", "generate"], stdout=sys.stderr, stderr=sys.stderr, check=False)
    if generated.returncode != 0:
        fail(f"the image's generate exited with code {generated.returncode} (its output is above)")
    if existing_server_name(config_path) != server_name:
        fail(f"generate left no homeserver.yaml for {server_name} in {request['volumeName']}")

    write_overlay(request["overlayPath"], request["overlay"], os.environ.get("SYNAPSE_STACK_IN_USE", ""), uid, gid)
    write_files(request.get("filesDir"), request.get("files") or {}, uid, gid)
    users, ported = sqlite_state()
    print(json.dumps({
        "serverName": server_name,
        "signingKeyId": signing_key_id(config_path, server_name),
        # Whether a switch to PostgreSQL has SQLite data to move first.
        "sqliteData": users > 0 and not ported,
    }))


if __name__ == "__main__":
    main(globals().get("request") or json.loads(sys.stdin.readline()))
