#!/usr/bin/env bash
# Builds pulumi-resource-random: the hashicorp/random Terraform provider (plugin framework) bridged with
# pulumi-terraform-bridge's pkg/pf; see ../bridged-build.sh.
set -euo pipefail

NAME=random
UPSTREAM_MOD=github.com/terraform-providers/terraform-provider-random
UPSTREAM_VER=v1.3.2-0.20260824155315-e1092b0cfc07
UPSTREAM_PATH=github.com/terraform-providers/terraform-provider-random
BUILD_TAGS=""

source "$(dirname "${BASH_SOURCE[0]}")/../bridged-build.sh"
