"""The steps of the move from SQLite to PostgreSQL that run in helpers of the Synapse image, with the data volume at
/data; ops/port.ts runs them in order, each in a helper of its own. The request (stdin's first line) names the step:

- status: prints {"ported", "attempted", "users"}: whether the data was ported already, whether an attempt began
  (tables found in PostgreSQL are then that attempt's, not anyone's data), and the users in homeserver.db (-1
  without one).
- prepare: marks the attempt, then takes an online snapshot of homeserver.db into a work folder in the volume,
  switches its auto-vacuum off and finishes its background updates (update_synapse_database), as synapse_port_db
  requires.
- port: synapse_port_db from the snapshot into PostgreSQL. The request's "database" is Synapse's database block,
  which holds the password: it goes into a config file in /tmp (a tmpfs) and nowhere else.
- finish: marks the data ported, and removes the attempt's marker and the snapshot.

The original homeserver.db is only ever read. Progress and errors go to stderr.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys

import yaml

DATA = "/data"
TMP = "/tmp"
# configure.py reads the same marker: a volume whose data was ported must not run on SQLite again.
PORTED = "synapse-stack-ported"
ATTEMPT = "synapse-stack-porting"
WORK = "synapse-stack-port"


def data(*names):
    return os.path.join(DATA, *names)


def status():
    ported = os.path.exists(data(PORTED))
    users = -1
    if not ported and os.path.exists(data("homeserver.db")):
        connection = sqlite3.connect(data("homeserver.db"))
        try:
            users = connection.execute("SELECT count(*) FROM users").fetchone()[0]
        finally:
            connection.close()
    return {"ported": ported, "attempted": os.path.exists(data(ATTEMPT)), "users": users}


def config_with(database):
    """homeserver.yaml with another database block."""
    with open(data("homeserver.yaml"), encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    config["database"] = database
    return config


def prepare(run=subprocess.run):
    with open(data(ATTEMPT), "w", encoding="utf-8") as handle:
        handle.write("porting")
    work = data(WORK)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    snapshot = os.path.join(work, "homeserver.db")
    live = sqlite3.connect(data("homeserver.db"), timeout=60)
    copy = sqlite3.connect(snapshot)
    try:
        live.backup(copy)
    finally:
        live.close()
    # synapse_port_db refuses a database with auto-vacuum, which only a VACUUM switches off.
    copy.execute("PRAGMA auto_vacuum = NONE")
    copy.execute("VACUUM")
    copy.close()
    sqlite_config = os.path.join(work, "sqlite.yaml")
    with open(sqlite_config, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config_with({"name": "sqlite3", "args": {"database": snapshot}}), handle)
    print("snapshot taken; finishing its background updates", file=sys.stderr, flush=True)
    run(["update_synapse_database", "--database-config", sqlite_config, "--run-background-updates"], check=True)


def port(database, run=subprocess.run):
    """Runs synapse_port_db into the database the block names; returns its exit code."""
    postgres_config = os.path.join(TMP, "postgres.yaml")
    descriptor = os.open(postgres_config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        yaml.safe_dump(config_with(database), handle)
    snapshot = data(WORK, "homeserver.db")
    return run(["synapse_port_db", "--sqlite-database", snapshot, "--postgres-config", postgres_config], check=False).returncode


def finish():
    with open(data(PORTED), "w", encoding="utf-8") as handle:
        handle.write("ported")
    os.remove(data(ATTEMPT))
    shutil.rmtree(data(WORK))


def main(request):
    step = request["step"]
    if step == "status":
        print(json.dumps(status()))
    elif step == "prepare":
        prepare()
    elif step == "port":
        sys.exit(port(request["database"]))
    elif step == "finish":
        finish()
    else:
        print(f"port: no step {step!r} (status, prepare, port or finish)", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main(globals().get("request") or json.loads(sys.stdin.readline()))
