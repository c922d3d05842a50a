#!/usr/bin/env bash
# `npm test`: everything CI runs, from any checkout, a fresh clone included: installs what is missing (npm
# packages, `npm run setup`), then unit, alert-rule, plugin, policy and end-to-end tests. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules/@pulumi/pulumi ] || npm ci --no-audit --no-fund
# The component package, compiled: the stack program and the operations run its JavaScript.
npm run -s build
npm run -s setup
# The release the upgrade test starts from (package.json config.synapseUpgradeFrom: schema 93, before 1.151's 94).
npm run -s setup -- image "$(node -p 'require("./package.json").config.synapseUpgradeFrom')"
npm run -s test:unit
npm run -s test:rules
npm run -s test:plugins
npm run -s test:policy
npm run -s test:e2e
