// How the policy pack reads a command line (policy/docker-run.ts): the options of each `docker run` up to its image,
// and which of the shared hardening flags they lack.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { dockerRuns, missingHardening, shellWords } from "../../policy/docker-run";

describe("shellWords", () => {
    it("removes quotes and escapes and splits off the operators", () => {
        const line = String.raw`a 'b c'"d\"e" f\ g; h&&i|j 2>&1 $(k) 'it'\''s'`;
        assert.deepEqual(shellWords(line), ["a", 'b cd"e', "f g", ";", "h", "&&", "i", "|", "j", "2>", "&", "1", "$(", "k", ")", "it's"]);
    });
});

describe("dockerRuns and missingHardening", () => {
    it("read the options up to the image, in every docker run of a line", () => {
        const runs = dockerRuns("docker rm -f x 2>&1; docker run --rm -it -v a:/b --cap-drop=ALL img --read-only && docker container run --pids-limit 4 other");
        assert.deepEqual(runs, [
            [["--rm", ""], ["-it", ""], ["-v", "a:/b"], ["--cap-drop", "ALL"]],
            [["--pids-limit", "4"]],
        ]);
        assert.deepEqual(missingHardening(runs[0]), ["--security-opt no-new-privileges:true", "--read-only", "--pids-limit"]);
        assert.deepEqual(missingHardening(runs[1]), ["--security-opt no-new-privileges:true", "--cap-drop ALL", "--read-only"]);
    });

    const cases: { name: string; line: string; missing: string[] }[] = [
        {
            name: "every flag, in either spelling",
            line: "docker run --security-opt=no-new-privileges --cap-drop all --read-only=true --pids-limit=16 img",
            missing: [],
        },
        { name: "a value that weakens it", line: "docker run --security-opt no-new-privileges:false --cap-drop NET_RAW --read-only=false --pids-limit 0 img", missing: ["--security-opt no-new-privileges:true", "--cap-drop ALL", "--read-only", "--pids-limit"] },
        { name: "flags quoted inside another program's argument", line: "docker run img sh -c 'docker run --read-only'", missing: ["--security-opt no-new-privileges:true", "--cap-drop ALL", "--read-only", "--pids-limit"] },
    ];
    for (const { name, line, missing } of cases) {
        it(name, () => {
            assert.deepEqual(dockerRuns(line).map(missingHardening), [missing]);
        });
    }

    it("finds each docker run that runs, and none that is only an argument", () => {
        assert.deepEqual(dockerRuns("docker exec -i c psql; docker update --pids-limit 5 c; echo docker run"), []);
        assert.equal(dockerRuns("X=1 docker run a; exec docker run b || env docker container run c").length, 3);
    });
});
