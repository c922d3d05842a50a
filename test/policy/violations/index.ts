import * as command from "@pulumi/command";
import * as docker from "@pulumi/docker";

const image = new docker.RemoteImage("unpinned", { name: "busybox:latest", keepLocally: true });

new docker.Volume("named-volume", { name: "policy-violation-data" });

new docker.Container("exposed", {
    image: image.imageId,
    ports: [{ internal: 8008, external: 18008, ip: "0.0.0.0" }],
});

new docker.Container("one-shot", { image: "busybox:1.36", mustRun: false });

new command.local.Command("chatty-secret", { create: "cat >/dev/null", stdin: "not really a secret", logging: "stdout" });

// Hardened-looking words after the image are the container's arguments, not docker's options.
new command.local.Command("bare-helper", {
    create: "docker rm -f scratch >/dev/null 2>&1; docker run --rm --cap-drop ALL --network none busybox:1.36 --read-only --pids-limit 8",
});

// A service with none of the hardening, and a secret deleted before its replacement exists.
new docker.Service("bare-service", { name: "policy-violation-service", taskSpec: { containerSpec: { image: "busybox:latest" } } });

new docker.Secret("deleted-secret", { name: "policy-violation-secret", data: Buffer.from("x").toString("base64") }, { deleteBeforeReplace: true });
