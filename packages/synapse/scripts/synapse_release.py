"""The Synapse release an image carries and the database schema it knows, as JSON {"version", "schema"}: run by
backup (for the archive's manifest) and restore (to refuse an archive whose schema the image predates) in a helper
of the image. The request (stdin's first line) is {}.
"""

import json


def release():
    import synapse
    from synapse.storage.schema import SCHEMA_VERSION

    return {"version": synapse.__version__, "schema": SCHEMA_VERSION}


if __name__ == "__main__":
    print(json.dumps(release()))
