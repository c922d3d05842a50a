#!/opt/synapse/bin/python3
"""Entrypoint of the locally built Synapse image.

Follows the documented interface of the official matrixdotorg/synapse image:
the first argument selects the mode (default `run`):

  generate   write homeserver.yaml, the signing key and a console log config
  run [ARGS] start the homeserver (or SYNAPSE_WORKER's module, or `-m MODULE` in
             ARGS) as UID:GID with ARGS passed through
  anything   executed as a command (`docker run IMAGE bash`, `docker exec`)

Only the standard library is used, so this also runs before the venv is healthy.
"""

import os
import sys
from typing import NoReturn

HOMESERVER = "synapse.app.homeserver"

LOG_CONFIG_TEMPLATE = """\
# Written by the image's start.py: log to the console so `docker logs` shows
# everything and nothing needs a writable log directory.
version: 1

formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - %(request)s - %(message)s'

handlers:
  console:
    class: logging.StreamHandler
    formatter: precise

loggers:
  synapse.storage.SQL:
    # DEBUG here would log access tokens.
    level: INFO

root:
  level: {level}
  handlers: [console]

disable_existing_loggers: false
"""

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def log(message: str) -> None:
    print(f"start.py: {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 1) -> NoReturn:
    log(f"error: {message}")
    sys.exit(code)


def env_id(name: str) -> int:
    raw = os.environ.get(name, "991")
    try:
        value = int(raw)
    except ValueError:
        fail(f"{name}={raw!r} is not a numeric id: expected an integer such as 991")
    if value < 0:
        fail(f"{name}={raw!r} is negative: expected an integer such as 991")
    return value


def paths() -> tuple[str, str, str]:
    config_dir = os.environ.get("SYNAPSE_CONFIG_DIR") or "/data"
    config_path = os.environ.get("SYNAPSE_CONFIG_PATH") or os.path.join(
        config_dir, "homeserver.yaml"
    )
    data_dir = os.environ.get("SYNAPSE_DATA_DIR") or "/data"
    return config_dir, config_path, data_dir


def drop_privileges(uid: int, gid: int) -> None:
    # Without gosu: supplementary groups first, then gid, then uid (the order
    # matters, a process that is no longer root can change neither).
    if os.getuid() != 0:
        if os.getuid() != uid:
            log(f"not running as root, staying uid {os.getuid()} instead of {uid}")
        return
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)


def exec_python(module: str, args: list[str], uid: int, gid: int, env: dict[str, str]) -> NoReturn:
    drop_privileges(uid, gid)
    # As upstream: `run -m <module> ...` picks the module itself.
    argv = [sys.executable, *args] if args[:1] == ["-m"] else [sys.executable, "-m", module, *args]
    os.execve(sys.executable, argv, env)


def write_log_config(config_dir: str, server_name: str) -> None:
    log_config = os.path.join(config_dir, f"{server_name}.log.config")
    if os.path.exists(log_config):
        log(f"keeping existing {log_config}")
        return
    level = (os.environ.get("SYNAPSE_LOG_LEVEL") or "INFO").upper()
    if level not in LOG_LEVELS:
        fail(f"SYNAPSE_LOG_LEVEL={level!r} is not a log level: expected one of {', '.join(LOG_LEVELS)}")
    with open(log_config, "w", encoding="utf-8") as handle:
        handle.write(LOG_CONFIG_TEMPLATE.format(level=level))
    os.chmod(log_config, 0o644)
    log(f"wrote console log config {log_config}")


def generate() -> NoReturn:
    server_name = os.environ.get("SYNAPSE_SERVER_NAME", "").strip()
    if not server_name:
        fail("SYNAPSE_SERVER_NAME must be set for generate: expected the server name, such as matrix.example.org")
    if "/" in server_name or server_name.startswith("."):
        fail(f"SYNAPSE_SERVER_NAME={server_name!r} is not a server name: expected a DNS name such as matrix.example.org")
    report_stats = os.environ.get("SYNAPSE_REPORT_STATS", "")
    if report_stats not in ("yes", "no"):
        fail(f"SYNAPSE_REPORT_STATS={report_stats!r} is not accepted: expected yes or no")

    config_dir, config_path, data_dir = paths()
    uid, gid = env_id("UID"), env_id("GID")

    for directory in (config_dir, data_dir):
        os.makedirs(directory, exist_ok=True)
    # Synapse keeps an existing log config, so writing ours first is what keeps
    # the generated homeserver.yaml from pointing at a file logger in the cwd.
    write_log_config(config_dir, server_name)
    if os.getuid() == 0:
        # Not recursive: on a reused volume the files already have an owner.
        for directory in {config_dir, data_dir}:
            os.chown(directory, uid, gid)

    if os.path.exists(config_path):
        log(f"{config_path} exists: keeping it, generating only missing files")
    args = [
        "--server-name", server_name,
        "--report-stats", report_stats,
        "--config-path", config_path,
        "--config-directory", config_dir,
        "--data-directory", data_dir,
        "--generate-config",
        "--open-private-ports",
    ]
    os.chdir(data_dir)
    exec_python(HOMESERVER, args, uid, gid, dict(os.environ))


def has_config_path(args: list[str]) -> bool:
    for arg in args:
        if arg in ("-c", "--config-path") or arg.startswith("--config-path="):
            return True
        if arg.startswith("-c") and not arg.startswith("--"):
            return True
    return False


def run(args: list[str]) -> NoReturn:
    _, config_path, data_dir = paths()
    uid, gid = env_id("UID"), env_id("GID")
    if not has_config_path(args):
        if not os.path.exists(config_path):
            fail(
                f"config file {config_path} does not exist.\n"
                "Generate one first, with the same volume mounted at /data:\n"
                "  docker run --rm -v VOLUME:/data -e SYNAPSE_SERVER_NAME=my.server.name "
                "-e SYNAPSE_REPORT_STATS=no IMAGE generate\n"
                "or pass your own with `run --config-path FILE`.",
                code=2,
            )
        module = args[:2] if args[:1] == ["-m"] else []
        args = [*module, "--config-path", config_path, *args[len(module):]]

    env = dict(os.environ)
    jemalloc = f"/usr/lib/{os.uname().machine}-linux-gnu/libjemalloc.so.2"
    if os.environ.get("SYNAPSE_USE_JEMALLOC", "1") != "0" and os.path.isfile(jemalloc):
        # Synapse's caches fragment glibc's heap; jemalloc keeps RSS down.
        env["LD_PRELOAD"] = jemalloc
    if os.path.isdir(data_dir):
        os.chdir(data_dir)
    # SYNAPSE_WORKER selects a worker's module instead of the main process, as in the official image.
    exec_python(os.environ.get("SYNAPSE_WORKER", HOMESERVER), args, uid, gid, env)


def main(argv: list[str]) -> NoReturn:
    mode = argv[0] if argv else "run"
    if mode == "generate":
        if len(argv) > 1:
            fail(f"generate takes no arguments, got {' '.join(argv[1:])}: configure it with SYNAPSE_* variables")
        generate()
    if mode == "run":
        run(argv[1:])
    try:
        os.execvp(argv[0], argv)
    except FileNotFoundError:
        fail(f"unknown mode or command {argv[0]!r}: expected generate, run, or a command in the image", code=127)


if __name__ == "__main__":
    main(sys.argv[1:])
