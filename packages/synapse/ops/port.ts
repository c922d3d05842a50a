// The move from SQLite to PostgreSQL, run by the stack when synapse:database becomes postgres (after the PostgreSQL
// server is up and the new config is written to a file of its own, before the homeserver is replaced by one that
// runs on it). Synapse's documented procedure, with its own tools: stop Synapse (no message may arrive after the
// snapshot), take an online snapshot of homeserver.db, finish its background updates (update_synapse_database),
// switch off auto-vacuum, and port the snapshot into the empty PostgreSQL database (synapse_port_db). The original
// homeserver.db stays untouched. On any failure the old homeserver is started again, on SQLite as it was (its own
// config file never changed), and the step fails; the next `up` runs it again from a new snapshot, first emptying the
// database of what the failed attempt left (a marker in the volume says an attempt began), so nothing written on
// SQLite in between is lost.
//
// stdin: Synapse's `database:` block for PostgreSQL, as JSON (it holds the password).
import * as fs from "node:fs";
import { containerState, docker, main, OpsError, parseArguments, say, type StackFacts } from "./common";
import { runScript } from "./helpers";

/**
 * After synapse_port_db, every stream sequence is moved up to the stream's recorded position: the port copies
 * stream_positions from SQLite but (1.163) leaves pushers_sequence behind, and Synapse then refuses to start
 * ("Postgres sequence 'pushers_sequence' is inconsistent with associated stream position"). Moving a sequence up to
 * what is recorded is what Synapse itself would hand out next; it never goes down.
 */
const ALIGN_SEQUENCES = `DO $$ DECLARE stream record; BEGIN
  FOR stream IN SELECT stream_name, MAX(stream_id) AS position FROM stream_positions GROUP BY stream_name LOOP
    IF EXISTS (SELECT 1 FROM pg_class WHERE relkind = 'S' AND relname = stream.stream_name || '_sequence') THEN
      EXECUTE format('SELECT setval(%L, GREATEST(%s, (SELECT last_value FROM %I)))',
        stream.stream_name || '_sequence', stream.position, stream.stream_name || '_sequence');
    END IF;
  END LOOP;
END $$;`;

async function port(facts: StackFacts, databaseConfig: unknown, network: string): Promise<void> {
    // Each step is the package's port.py in a helper on the data volume; only the port itself joins PostgreSQL's
    // network. SQLite's temporary files (VACUUM's copy is as large as the database) go to the volume, not to /tmp.
    const step = (name: string, extra: { database?: unknown; network?: string } = {}) =>
        runScript(facts, "port.py", { step: name, database: extra.database }, { data: "writable", network: extra.network, env: { SQLITE_TMPDIR: "/data" } });
    const status = JSON.parse(step("status")) as { ported: boolean; attempted: boolean; users: number };
    if (status.ported) {
        say("already ported to PostgreSQL");
        return;
    }
    const users = status.users;
    if (users <= 0) {
        say("no SQLite data to port: PostgreSQL starts empty");
        return;
    }
    const psql = (database: string, sql: string) =>
        docker(["exec", facts.databaseContainer!, "psql", "--username=synapse", `--dbname=${database}`, "-v", "ON_ERROR_STOP=1", "-tAc", sql]);
    // The server may be coming back from a crash that failed an earlier attempt.
    docker(["exec", facts.databaseContainer!, "sh", "-c", "for i in $(seq 300); do pg_isready --quiet --host=127.0.0.1 && exit 0; sleep 0.2; done; exit 1"]);
    let tables = Number(psql("synapse", "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"));
    if (tables > 0 && status.attempted) {
        say(`an earlier port stopped part-way: emptying the PostgreSQL database of the ${tables} tables it left, to port again from a new snapshot`);
        psql("postgres", "DROP DATABASE IF EXISTS synapse WITH (FORCE)");
        psql("postgres", "CREATE DATABASE synapse ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0 OWNER synapse");
        tables = 0;
    }
    let stopped = false;
    try {
        if (tables > 0) {
            throw new OpsError(
                `the PostgreSQL database of ${facts.serverName} already holds ${tables} tables, so the SQLite data (${users} users) ` +
                    "cannot be ported into it (synapse_port_db needs an empty database): remove that database volume, or keep synapse:database sqlite",
            );
        }
        if (containerState(facts.container) === "running") {
            say(`stopping ${facts.container}: nothing may change after the snapshot`);
            docker(["stop", "--time", "30", facts.container]);
            stopped = true;
        }
        say(`porting ${users} users' data from SQLite to PostgreSQL with synapse_port_db`);
        step("prepare");
        step("port", { database: databaseConfig, network });
        docker(["exec", "-i", facts.databaseContainer!, "psql", "--username=synapse", "--dbname=synapse", "-v", "ON_ERROR_STOP=1", "-q"], { input: ALIGN_SEQUENCES });
        step("finish");
        say("ported; the homeserver now starts on PostgreSQL (homeserver.db stays in the volume, untouched)");
    } catch (err) {
        // The old homeserver's own config file still says SQLite: nothing written there since the snapshot is lost.
        if (stopped) {
            say(`the port failed: starting ${facts.container} again on SQLite, as it was`);
            docker(["start", facts.container]);
        }
        throw err;
    }
}

if (require.main === module) {
    main(async () => {
        const { options } = parseArguments(process.argv.slice(2));
        for (const required of ["container", "data-volume", "image", "network", "server-name", "user"]) {
            if (!options[required]) {
                throw new OpsError(`--${required} is required (this step is run by the stack when synapse:database becomes postgres)`);
            }
        }
        const facts: StackFacts = {
            stack: options.container,
            serverName: options["server-name"],
            container: options.container,
            volume: options["data-volume"],
            database: "postgres",
            databaseContainer: `${options.container}-db`,
            image: options.image,
            // The configured owner of the data (what generate gives every file to), even before the homeserver exists.
            user: options.user,
        };
        await port(facts, JSON.parse(fs.readFileSync(0, "utf8")), options.network);
    });
}
