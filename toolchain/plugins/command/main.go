// pulumi-resource-command is a small, source-built stand-in for the Pulumi
// "command" provider. Only command:local:Command is implemented: the plugin
// download site is unreachable from our build machines and the upstream
// provider module is not on the Go module proxy, so we build our own.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
)

// version is stamped by build.sh from node_modules/@pulumi/command/package.json
// (pulumi.version), so the engine matches this plugin to the npm SDK in use.
var version = "0.0.0-dev"

const localCommandToken = "command:local:Command"

func main() {
	prov, err := newProvider()
	if err == nil {
		err = p.RunProvider(context.Background(), "command", version, prov)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-resource-command: %v\n", err)
		os.Exit(1)
	}
}

func newProvider() (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("Command").
		WithDescription("Runs local commands as part of the Pulumi resource model (local.Command only).").
		WithRepository("https://github.com/pulumi/pulumi-command").
		WithResources(infer.Resource(&Command{})).
		Build()
	if err != nil {
		return p.Provider{}, err
	}
	return replaceOnTriggers(onlyLocalCommand(prov)), nil
}

// replaceOnTriggers makes a change anywhere inside `triggers` a replacement.
// infer honours the replaceOnChanges tag only for a change of the top-level
// key, but element changes are reported as "triggers[0]" and would otherwise
// become in-place updates. (The npm SDK also asks the engine for
// replaceOnChanges ["triggers[*]"], but the provider should not depend on it.)
func replaceOnTriggers(prov p.Provider) p.Provider {
	diff := prov.Diff
	prov.Diff = func(ctx context.Context, req p.DiffRequest) (p.DiffResponse, error) {
		resp, err := diff(ctx, req)
		for k, d := range resp.DetailedDiff {
			if k == "triggers" || strings.HasPrefix(k, "triggers[") || strings.HasPrefix(k, "triggers.") {
				d.Kind = asReplace[d.Kind]
				resp.DetailedDiff[k] = d
			}
		}
		return resp, err
	}
	return prov
}

var asReplace = map[p.DiffKind]p.DiffKind{
	p.Add: p.AddReplace, p.AddReplace: p.AddReplace,
	p.Delete: p.DeleteReplace, p.DeleteReplace: p.DeleteReplace,
	p.Update: p.UpdateReplace, p.UpdateReplace: p.UpdateReplace,
	p.Stable: p.Stable,
}

// onlyLocalCommand turns "unknown token" failures for the rest of the
// package (remote.*, local.run) into an explicit message, so a user of the
// full npm SDK learns why instead of seeing a generic dispatch error.
func onlyLocalCommand(prov p.Provider) p.Provider {
	check, read := prov.Check, prov.Read
	prov.Check = func(ctx context.Context, req p.CheckRequest) (p.CheckResponse, error) {
		if err := supported(req.Urn.Type()); err != nil {
			return p.CheckResponse{}, err
		}
		return check(ctx, req)
	}
	prov.Read = func(ctx context.Context, req p.ReadRequest) (p.ReadResponse, error) {
		if err := supported(req.Urn.Type()); err != nil {
			return p.ReadResponse{}, err
		}
		return read(ctx, req)
	}
	prov.Invoke = func(_ context.Context, req p.InvokeRequest) (p.InvokeResponse, error) {
		return p.InvokeResponse{}, supported(req.Token)
	}
	return prov
}

func supported(tok tokens.Type) error {
	if tok == localCommandToken {
		return nil
	}
	return fmt.Errorf("%s is not supported by this build of pulumi-resource-command %s "+
		"(only %s is implemented)", tok, version, localCommandToken)
}
