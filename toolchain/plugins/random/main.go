// pulumi-resource-random: the hashicorp/random Terraform provider (built on
// terraform-plugin-framework) bridged to Pulumi with pulumi-terraform-bridge's
// plugin-framework support (pkg/pf), so that the @pulumi/random npm SDK can
// drive it without downloading the official plugin binary.
package main

import (
	"context"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
)

// version is stamped at build time (-ldflags "-X main.version=...") from the
// @pulumi/random npm package this plugin serves.
var version = "0.0.0-dev"

func main() {
	ctx := context.Background()
	pftfbridge.Main(ctx, "random", Provider(ctx, version), pftfbridge.ProviderMetadata{
		PackageSchema: minimalSchema("random", version),
	})
}
