package main

// The bridge's property names must be the ones the @pulumi/random npm SDK uses.
//   go test -vet=off -run TestNames -v .

import (
	"context"
	"path/filepath"
	"testing"

	"synapse-stack/toolchain/plugins/sdknames"
)

func TestNames(t *testing.T) {
	sdk := filepath.Join("..", "..", "..", "node_modules", "@pulumi", pkg)
	sdknames.Check(t, sdk, Provider(context.Background(), "0.0.0"), map[string]bool{})
}
