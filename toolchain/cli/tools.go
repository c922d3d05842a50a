//go:build tools

// Package tools pins the Pulumi CLI, built here from Go modules where its download site is unreachable.
package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
