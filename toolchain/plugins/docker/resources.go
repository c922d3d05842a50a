package main

import (
	"fmt"

	"github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfbridge"
	shimv2 "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/tfshim/sdk-v2"

	// Created by build.sh inside a writable copy of the upstream module: it
	// re-exports internal/provider, which Go's internal rule hides from us.
	"github.com/terraform-providers/terraform-provider-docker/shim"
)

const pkg = "docker"

// resources maps Terraform resource types to the tokens the npm SDK uses.
var resources = map[string]string{
	"docker_buildx_builder": "BuildxBuilder",
	"docker_config":         "ServiceConfig",
	"docker_container":      "Container",
	"docker_image":          "RemoteImage",
	"docker_network":        "Network",
	"docker_plugin":         "Plugin",
	"docker_registry_image": "RegistryImage",
	"docker_secret":         "Secret",
	"docker_service":        "Service",
	"docker_tag":            "Tag",
	"docker_volume":         "Volume",
}

// dataSources maps Terraform data sources to the npm SDK's invoke tokens.
var dataSources = map[string]string{
	"docker_image":                    "getRemoteImage",
	"docker_logs":                     "getLogs",
	"docker_network":                  "getNetwork",
	"docker_plugin":                   "getPlugin",
	"docker_registry_image":           "getRegistryImage",
	"docker_registry_image_manifests": "getRegistryImageManifests",
}

// Provider returns the bridge mapping. Property names follow the bridge's
// default naming (snake_case to camelCase, lists/sets pluralised), with the
// few overrides below where the npm SDK's names differ from that default.
func Provider(version string) tfbridge.ProviderInfo {
	p := shimv2.NewProvider(shim.NewProvider(version))

	info := tfbridge.ProviderInfo{
		P:           p,
		Name:        "docker",
		Version:     version,
		Description: "Docker resources bridged from the kreuzwerker/docker Terraform provider.",
		License:     "Apache-2.0",
		Resources:   map[string]*tfbridge.ResourceInfo{},
		DataSources: map[string]*tfbridge.DataSourceInfo{},
		Config: map[string]*tfbridge.SchemaInfo{
			// A list, but the npm SDK's provider argument is singular.
			"registry_auth": {Name: "registryAuth"},
		},
	}
	for tf, name := range resources {
		fields := map[string]*tfbridge.SchemaInfo{}
		for k, v := range fieldOverrides[tf] {
			fields[k] = v
		}
		info.Resources[tf] = &tfbridge.ResourceInfo{
			Tok:    tfbridge.MakeResource(pkg, "index", name),
			Fields: fields,
		}
	}
	// A container's name is unique on the engine: with a fixed name, create-
	// before-delete replacement would collide, so replace delete-first.
	info.Resources["docker_container"].DeleteBeforeReplace = true
	// RemoteImage.name is the image reference, not a name to generate.
	info.Resources["docker_image"].Fields["name"] = &tfbridge.SchemaInfo{Name: "name"}
	// Every other resource's `name` becomes optional and, when omitted, is
	// generated from the Pulumi resource name plus a random suffix (as the
	// npm SDK's optional `name` arguments expect). A name the user sets also
	// makes replacements delete-before-create.
	info.SetAutonaming(255, "-")

	for tf, name := range dataSources {
		info.DataSources[tf] = &tfbridge.DataSourceInfo{Tok: tfbridge.MakeDataSource(pkg, "index", name)}
	}
	return info
}

// fieldOverrides: Pulumi names that differ from the bridge's default naming
// (which would pluralise these lists to "commands" and "networksAdvanceds").
// names_test.go checks every resource's names against the npm SDK.
var fieldOverrides = map[string]map[string]*tfbridge.SchemaInfo{
	"docker_container": {
		"command":           {Name: "command"},
		"networks_advanced": {Name: "networksAdvanced"},
	},
}

// minimalSchema is what GetSchema answers. Programs using the npm SDK never ask for it; the full schema
// would need tfgen and every language's code generator. %q quoting is valid JSON for these plain names.
func minimalSchema(name, version string) []byte {
	return []byte(fmt.Sprintf(`{"name":%q,"version":%q}`, name, version))
}
