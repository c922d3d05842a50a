// pulumi-resource-docker: the kreuzwerker/docker Terraform provider bridged to
// Pulumi with pulumi-terraform-bridge, so that the @pulumi/docker npm SDK can
// drive it without downloading the official plugin binary.
//
// Only the provider's SDKv2 half is bridged (every resource and data source the
// npm SDK exposes lives there); its plugin-framework half (compose, actions,
// docker_containers) has no counterpart in the npm SDK.
package main

import (
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
)

// version is stamped at build time (-ldflags "-X main.version=...") from the
// @pulumi/docker npm package this plugin serves.
var version = "0.0.0-dev"

func main() {
	info := Provider(version)
	tfbridge.Main("docker", version, info, minimalSchema("docker", version))
}
