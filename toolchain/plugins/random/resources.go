package main

import (
	"context"
	"fmt"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"

	// Created by build.sh inside a writable copy of the upstream module: it
	// re-exports internal/provider, which Go's internal rule hides from us.
	"github.com/terraform-providers/terraform-provider-random/shim"
)

const pkg = "random"

// resources maps Terraform resource types to the tokens the npm SDK uses.
var resources = map[string]string{
	"random_bytes":    "RandomBytes",
	"random_id":       "RandomId",
	"random_integer":  "RandomInteger",
	"random_password": "RandomPassword",
	"random_pet":      "RandomPet",
	"random_shuffle":  "RandomShuffle",
	"random_string":   "RandomString",
	"random_uuid":     "RandomUuid",
	"random_uuid4":    "RandomUuid4",
	"random_uuid7":    "RandomUuid7",
}

// Provider returns the bridge mapping. Property names follow the bridge's
// default naming (snake_case to camelCase, lists/sets pluralised). Attributes
// the provider marks Sensitive (random_password.result/bcrypt_hash,
// random_bytes.base64/hex) become Pulumi secrets automatically.
func Provider(ctx context.Context, version string) tfbridge.ProviderInfo {
	info := tfbridge.ProviderInfo{
		P:           pftfbridge.ShimProviderWithContext(ctx, shim.NewProvider()),
		Name:        "random",
		Version:     version,
		Description: "Random values bridged from the hashicorp/random Terraform provider.",
		License:     "Apache-2.0",
		Resources:   map[string]*tfbridge.ResourceInfo{},
		// pf requires bridge metadata (normally tfgen's bridge-metadata.json).
		// Its keys (auto-aliasing history, mux table) only matter for providers
		// with a release history or a muxed half, so an empty one serves.
		MetadataInfo: tfbridge.NewProviderMetadata([]byte("{}")),
	}
	for tf, name := range resources {
		info.Resources[tf] = &tfbridge.ResourceInfo{Tok: tfbridge.MakeResource(pkg, "index", name)}
	}
	return info
}

// minimalSchema is what GetSchema answers. Programs using the npm SDK never ask for it; the full schema
// would need tfgen and every language's code generator. %q quoting is valid JSON for these plain names.
func minimalSchema(name, version string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"version":%q}`, name, version))
}
