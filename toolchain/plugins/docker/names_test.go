package main

// The bridge's property names must be the ones the @pulumi/docker npm SDK uses.
//   go test -vet=off -tags no_compose -run TestNames -v .

import (
	"path/filepath"
	"testing"

	"synapse-stack/toolchain/plugins/sdknames"
)

func TestNames(t *testing.T) {
	sdk := filepath.Join("..", "..", "..", "node_modules", "@pulumi", pkg)
	// No exceptions: @pulumi/docker 5.x bridges the same upstream (kreuzwerker/docker v4) as this plugin.
	sdknames.Check(t, sdk, Provider("0.0.0"), nil)
}
