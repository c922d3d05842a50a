"""A consistent copy of the live homeserver.db on stdout, through SQLite's online backup API, never a file copy of a
live database: run by backup (ops/backup.ts) in a helper of the Synapse image while the homeserver keeps running.
The copy is made in the data volume (the helper's root is read-only and its /tmp smaller than a database), streamed,
and removed. The request (stdin's first line) is {}.
"""

import os
import shutil
import sqlite3
import sys
import tempfile

DATA = "/data"


def backup(out):
    """Writes a consistent copy of homeserver.db to the binary stream out."""
    database = os.path.join(DATA, "homeserver.db")
    if not os.path.exists(database):
        print(f"sqlite_backup: no {database} in the data volume", file=sys.stderr)
        sys.exit(1)
    descriptor, copy_path = tempfile.mkstemp(dir=DATA, prefix=".synapse-stack-backup-", suffix=".db")
    os.close(descriptor)
    try:
        live = sqlite3.connect(database, timeout=60)
        copy = sqlite3.connect(copy_path)
        try:
            live.backup(copy)
        finally:
            copy.close()
            live.close()
        with open(copy_path, "rb") as handle:
            shutil.copyfileobj(handle, out, 1 << 20)
        out.flush()
    finally:
        os.remove(copy_path)


if __name__ == "__main__":
    backup(sys.stdout.buffer)
