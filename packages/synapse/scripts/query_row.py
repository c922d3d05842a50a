"""One row of a query on the homeserver's SQLite database, printed as its columns separated by spaces (None for
NULL): run by the operations (ops/common.ts queryRow) in a helper of the Synapse image. The request (stdin's first
line) is {"sql"}: the query travels as data, never inside Python source.
"""

import json
import os
import sqlite3
import sys

DATA = "/data"


def query_row(sql):
    # mode=rw: a missing database is an error, not a new empty file in the volume.
    connection = sqlite3.connect(f"file:{os.path.join(DATA, 'homeserver.db')}?mode=rw", uri=True)
    try:
        row = connection.execute(sql).fetchone()
    finally:
        connection.close()
    return " ".join(str(value) for value in row)


if __name__ == "__main__":
    print(query_row((globals().get("request") or json.loads(sys.stdin.readline()))["sql"]))
