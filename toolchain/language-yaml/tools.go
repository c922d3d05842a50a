//go:build tools

// Pins the Pulumi YAML language host (pulumi-language-yaml), which setup builds from the Go module proxy where the
// Pulumi download site is unreachable: Pulumi YAML programs use the component package through it.
package tools

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
