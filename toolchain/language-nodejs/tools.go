//go:build tools

// Package tools pins the Node.js language host. sdk/v3 v3.68.0 is the last release that carried it inside the
// sdk module; later releases give it a module of its own that the module proxy does not serve.
package tools

import _ "github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs"
