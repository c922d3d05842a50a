// What the pack reads in a command's /bin/sh line: each `docker run` in it, and whether that helper container has
// the shared hardening (packages/synapse/runtime/hardening.ts runFlags). A small reader of shell words and quotes,
// enough for the lines runtime/helper.ts renders, not a shell.

/** Where one simple command ends and another begins. */
const OPERATORS = new Set([";", "&", "|", "&&", "||", "(", ")", "$(", "`", "\n"]);

/** A command line as words (quotes removed) and operators. */
export function shellWords(line: string): string[] {
    const words: string[] = [];
    let word: string | undefined;
    const push = () => {
        if (word !== undefined) {
            words.push(word);
        }
        word = undefined;
    };
    for (let i = 0; i < line.length; i++) {
        const char = line[i];
        const pair = line.slice(i, i + 2);
        if (char === "'") {
            const end = line.indexOf("'", i + 1);
            word = (word ?? "") + line.slice(i + 1, end < 0 ? line.length : end);
            i = end < 0 ? line.length : end;
        } else if (char === '"') {
            let text = "";
            for (i++; i < line.length && line[i] !== '"'; i++) {
                text += line[i] === "\\" && i + 1 < line.length ? line[++i] : line[i];
            }
            word = (word ?? "") + text;
        } else if (char === "\\" && i + 1 < line.length) {
            word = (word ?? "") + line[++i];
        } else if (OPERATORS.has(pair)) {
            push();
            words.push(pair);
            i++;
        } else if (OPERATORS.has(char)) {
            push();
            words.push(char);
        } else if (/\s/.test(char)) {
            push();
        } else {
            word = (word ?? "") + char;
        }
    }
    push();
    return words;
}

/** `docker run` options that take no value; every other option takes one (the next word, unless it has "="). */
const FLAGS = new Set(["-d", "--detach", "-i", "--interactive", "-t", "--tty", "--rm", "--read-only", "--init", "--privileged", "-P", "--publish-all", "--no-healthcheck", "--oom-kill-disable", "-q", "--quiet"]);

/** Words that may stand before a command and run it: `VAR=value docker run`, `exec docker run`. */
const PREFIXES = new Set(["exec", "command", "env", "nohup", "sudo", "time"]);

function startsCommand(words: string[], i: number): boolean {
    return i === 0 || OPERATORS.has(words[i - 1]) || PREFIXES.has(words[i - 1]) || /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[i - 1]);
}

/** The options of each `docker run` in a command line, as [name, value] pairs, up to its image. */
export function dockerRuns(line: string): [string, string][][] {
    const words = shellWords(line);
    const runs: [string, string][][] = [];
    for (let i = 0; i + 1 < words.length; i++) {
        const run = words[i + 1] === "run" || (words[i + 1] === "container" && words[i + 2] === "run");
        if (words[i] !== "docker" || !run || !startsCommand(words, i)) {
            continue;
        }
        const options: [string, string][] = [];
        for (i += words[i + 1] === "run" ? 2 : 3; i < words.length && words[i].startsWith("-") && !OPERATORS.has(words[i]); i++) {
            const word = words[i];
            if (word.startsWith("--") && word.includes("=")) {
                options.push([word.slice(0, word.indexOf("=")), word.slice(word.indexOf("=") + 1)]);
            } else if (FLAGS.has(word) || /^-[a-zA-Z]{2,}$/.test(word)) {
                options.push([word, ""]);
            } else {
                options.push([word, words[++i] ?? ""]);
            }
        }
        runs.push(options);
    }
    return runs;
}

/** The shared hardening a helper's options lack, each as the flag that would supply it. */
export function missingHardening(options: [string, string][]): string[] {
    const has = (name: string, value: (given: string) => boolean) => options.some(([option, given]) => option === name && value(given));
    return [
        !has("--security-opt", (value) => value === "no-new-privileges" || value === "no-new-privileges:true") && "--security-opt no-new-privileges:true",
        !has("--cap-drop", (value) => value.toUpperCase() === "ALL") && "--cap-drop ALL",
        !has("--read-only", (value) => value === "" || value === "true") && "--read-only",
        !has("--pids-limit", (value) => /^[1-9]\d*$/.test(value)) && "--pids-limit",
    ].filter((flag): flag is string => typeof flag === "string");
}
