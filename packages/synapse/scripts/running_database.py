"""The database a homeserver runs on, as the overlay config its container was made with says: Synapse's database
driver (psycopg2 for PostgreSQL), sqlite3 when the overlay names none or does not exist (containers made before
overlays). Run by backup (ops/backup.ts) in a helper of the Synapse image, the data volume read-only. The request
(stdin's first line) is {"overlay": its path}.
"""

import json
import sys

import yaml


def database_name(overlay_path):
    try:
        with open(overlay_path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        return "sqlite3"
    return (config.get("database") or {}).get("name", "sqlite3")


if __name__ == "__main__":
    print(database_name((globals().get("request") or json.loads(sys.stdin.readline()))["overlay"]))
