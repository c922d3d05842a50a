#!/usr/bin/env bash
# `npm run dev`: from a fresh clone to a running dev homeserver in one command. Installs what is missing (npm
# packages, then `npm run setup`: engine, Pulumi CLI and plugins, images), selects or creates the `dev` stack
# (Pulumi.dev.yaml), runs `pulumi up` and prints how to log in. Run it again at any time: it only does what is left.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS

[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund
# The component package, compiled: the stack program and the operations run its JavaScript.
npm run -s build
npm run -s setup
source scripts/env.sh

pulumi stack select --create dev >/dev/null
# The stack's config decides the image. Where setup had to build it locally, say so in the dev stack's config once.
recorded="$(cat .tools/images/synapse)"
# (Pulumi.yaml declares every key, so an unset one reads as "".)
if [ -z "$(pulumi config get synapse:image 2>/dev/null)" ] && [ "$recorded" != "$(sed -n 's/^export const SYNAPSE_IMAGE = "\(.*\)";$/\1/p' packages/synapse/runtime/images.ts)" ]; then
    pulumi config set synapse:image "$recorded"
    echo "dev: synapse:image set to $recorded (the local build; the official image cannot be pulled here)"
fi
pulumi up --yes

url="$(pulumi stack output url)"
user="$(pulumi stack output adminUserId)"
cat <<MESSAGE

dev: homeserver ready at $url in $((SECONDS - started)) s. Log in as $user (Element, or curl):
  password:  npm run -s pulumi -- stack output adminPassword --show-secrets
  curl -s -X POST $url/_matrix/client/v3/login -H 'Content-Type: application/json' \\
    -d '{"type":"m.login.password","identifier":{"type":"m.id.user","user":"$user"},"password":"<password>"}'
  remove it: npm run pulumi -- destroy   (the data goes too: Pulumi.dev.yaml sets retainDataOnDestroy false)
MESSAGE
