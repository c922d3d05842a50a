// Child process for generate-failure.test.ts: runs the program with a generate container that exits 3 and
// reports, as JSON on stdout, the error the program died of and what it had declared by then.
import { declared, runProgram, stackConfig } from "./harness";

process.on("unhandledRejection", (err) => {
    const names = declared.map((resource) => `${resource.type} ${resource.name}`);
    process.stdout.write(JSON.stringify({ error: (err as Error).message, declared: names }));
    process.exit(1);
});
void runProgram("dev", stackConfig("dev"), { generateExitCode: 3 }).then(() => {
    process.stdout.write(JSON.stringify({ error: null, declared: declared.map((r) => `${r.type} ${r.name}`) }));
});
