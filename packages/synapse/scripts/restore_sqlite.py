"""Puts a restored SQLite database in place of homeserver.db: run by restore (ops/restore.ts) in a helper of the
Synapse image, with the homeserver stopped, once the archive's database is in the data volume beside it. The request
(stdin's first line) is {"copy": that file's name in the volume}.

The write-ahead log and shared memory of the database it replaces go first: SQLite would apply them to the restored
one. As Synapse's docs require, the restored database's one-time keys are emptied (clients upload new ones).
"""

import json
import os
import sqlite3
import sys

DATA = "/data"


def put_in_place(copy_name):
    database = os.path.join(DATA, "homeserver.db")
    copy = os.path.join(DATA, copy_name)
    if not os.path.exists(copy):
        print(f"restore_sqlite: no {copy} to put in place", file=sys.stderr)
        sys.exit(1)
    for stale in (f"{database}-wal", f"{database}-shm"):
        if os.path.exists(stale):
            os.remove(stale)
    connection = sqlite3.connect(copy)
    try:
        connection.execute("DELETE FROM e2e_one_time_keys_json")
        connection.commit()
    finally:
        connection.close()
    os.replace(copy, database)


if __name__ == "__main__":
    put_in_place((globals().get("request") or json.loads(sys.stdin.readline()))["copy"])
