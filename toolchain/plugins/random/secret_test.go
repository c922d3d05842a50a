package main

// Checks that the plugin itself (not only the npm SDK's additionalSecretOutputs)
// returns RandomPassword.result as a secret, as the real pulumi-random does.
//   go test -vet=off -run TestPasswordResultIsSecret -v .

import (
	"context"
	"testing"

	pftfbridge "github.com/pulumi/pulumi-terraform-bridge/v3/pkg/pf/tfbridge"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestPasswordResultIsSecret(t *testing.T) {
	ctx := context.Background()
	srv, err := pftfbridge.NewProviderServer(ctx, nil, Provider(ctx, "4.21.2"),
		pftfbridge.ProviderMetadata{PackageSchema: minimalSchema("random", "4.21.2")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Configure(ctx, &pulumirpc.ConfigureRequest{AcceptSecrets: true, AcceptResources: true}); err != nil {
		t.Fatal(err)
	}
	opts := plugin.MarshalOptions{KeepSecrets: true, KeepUnknowns: true}
	in, err := plugin.MarshalProperties(resource.PropertyMap{
		"length":  resource.NewNumberProperty(16),
		"special": resource.NewBoolProperty(false),
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	urn := "urn:pulumi:dev::test::random:index/randomPassword:RandomPassword::pw"
	chk, err := srv.Check(ctx, &pulumirpc.CheckRequest{Urn: urn, News: in, Olds: in})
	if err != nil || len(chk.Failures) > 0 {
		t.Fatalf("check: %v %v", err, chk.GetFailures())
	}
	resp, err := srv.Create(ctx, &pulumirpc.CreateRequest{Urn: urn, Properties: chk.Inputs})
	if err != nil {
		t.Fatal(err)
	}
	out, err := plugin.UnmarshalProperties(resp.Properties, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []resource.PropertyKey{"result", "bcryptHash"} {
		v, ok := out[k]
		if !ok || !v.IsSecret() {
			t.Errorf("%s: want a secret, got %v", k, v)
		}
	}
	if v := out["length"]; v.IsSecret() || v.NumberValue() != 16 {
		t.Errorf("length: %v", v)
	}
	if r := out["result"]; r.IsSecret() && len(r.SecretValue().Element.StringValue()) != 16 {
		t.Errorf("result length: %d", len(r.SecretValue().Element.StringValue()))
	}
}
