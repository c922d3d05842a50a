#!/usr/bin/env bash
# Builds pulumi-resource-docker: the kreuzwerker/docker Terraform provider bridged with
# pulumi-terraform-bridge (SDKv2 half); see ../bridged-build.sh.
set -euo pipefail

NAME=docker
UPSTREAM_MOD=github.com/kreuzwerker/terraform-provider-docker
UPSTREAM_VER=v0.0.0-20260916201441-96d331c98ff4
UPSTREAM_PATH=github.com/terraform-providers/terraform-provider-docker   # module path in its go.mod
BUILD_TAGS=no_compose   # leaves out docker_compose (framework side, not bridged anyway)

source "$(dirname "${BASH_SOURCE[0]}")/../bridged-build.sh"
