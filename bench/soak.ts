// `npm run bench`'s soak (alone with BENCH_ONLY=soak): the fault tests' stack (test/e2e/traffic.ts faultProfile)
// under steady writes through the TLS edge for BENCH_SOAK_SECONDS (default 600) while Synapse's main process, the
// event persister and the client worker are restarted in turn every BENCH_SOAK_INTERVAL_SECONDS (30). Prints the
// error rate and what was lost (the goal: nothing), and saves the figures. The e2e test runs the same, for 60 s.
import * as fs from "node:fs";
import * as path from "node:path";
import { cleanUp, createStack, freePort, Matrix, outputsOf, ROOT, runId, type TestStack, up } from "../test/e2e/support";
import { faultProfile, soak } from "../test/e2e/traffic";
import { envNumber } from "./load";

export async function soakBenchmark(machine: string): Promise<void> {
    const seconds = envNumber("BENCH_SOAK_SECONDS", 600);
    const interval = envNumber("BENCH_SOAK_INTERVAL_SECONDS", 30);
    const name = `bench-${runId()}-soak`;
    let testStack: TestStack | undefined;
    try {
        testStack = await createStack(name, faultProfile(`${name}.localhost`, await freePort()));
        await up(testStack);
        const outputs = await outputsOf(testStack);
        const matrix = new Matrix(outputs.url, { ca: outputs.caCertificate, connectTo: "127.0.0.1", timeoutSeconds: 120 });
        const token = (await matrix.login(outputs.adminUserId, outputs.adminPassword)).token!;
        const room = await matrix.request("POST", "/_matrix/client/v3/createRoom", { name: "soak" }, token);
        const prefix = `synapse-${name}`;
        const figures = await soak(matrix, token, room.json.room_id, [prefix, `${prefix}-event-persister-1`, `${prefix}-client-1`], seconds, interval);
        const rate = (100 * figures.failedAttempts) / figures.requests;
        console.log(
            `\nsoak ${new Date().toISOString().slice(0, 10)} on ${machine}: ${figures.seconds.toFixed(0)} s of writes through the edge, ` +
                `a restart every ${interval} s (${figures.restarts.length}: main, event persister, client worker in turn)\n\n` +
                "| figure | value |\n| --- | ---: |\n" +
                `| requests (sends and syncs) | ${figures.requests} |\n| attempts that failed and were tried again | ${figures.failedAttempts} (${rate.toFixed(2)} %) |\n` +
                `| requests that failed every try | ${figures.failures.length} |\n| writes acknowledged | ${figures.acknowledged} |\n` +
                `| found afterwards | ${figures.found} |\n| lost | ${figures.missing.length} |\n| stored twice | ${figures.twice.length} |`,
        );
        const resultsDir = path.join(ROOT, "bench", "results");
        fs.mkdirSync(resultsDir, { recursive: true });
        fs.writeFileSync(path.join(resultsDir, "soak.json"), JSON.stringify({ machine, interval, ...figures }, null, 2));
    } finally {
        await cleanUp(testStack);
    }
}
