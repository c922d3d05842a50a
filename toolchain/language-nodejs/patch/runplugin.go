//go:build langhostpatch

// RunPlugin for the Node.js language host built from sdk/v3 v3.68.0, whose own RunPlugin answers "not
// supported". Newer engines run Node.js policy packs (`pulumi preview --policy-pack DIR`) through it.
// build.sh renames the upstream stub and compiles this file in its place (tag langhostpatch).
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/encoding/protowire"
)

// programDirectory is RunPluginRequest.info.program_directory (field 5, then field 2 of ProgramInfo). Newer
// engines send the plugin's folder only there, and this SDK's generated code keeps field 5 as unknown bytes.
func programDirectory(req *pulumirpc.RunPluginRequest) string {
	if req.Program != "" {
		return req.Program
	}
	if info, ok := bytesField(req.ProtoReflect().GetUnknown(), 5); ok {
		if dir, ok := bytesField(info, 2); ok {
			return string(dir)
		}
	}
	return ""
}

// bytesField finds a length-delimited field in an encoded protobuf message.
func bytesField(message []byte, number protowire.Number) ([]byte, bool) {
	for len(message) > 0 {
		num, typ, n := protowire.ConsumeTag(message)
		if n < 0 {
			return nil, false
		}
		message = message[n:]
		if num == number && typ == protowire.BytesType {
			value, m := protowire.ConsumeBytes(message)
			return value, m >= 0
		}
		m := protowire.ConsumeFieldValue(num, typ, message)
		if m < 0 {
			return nil, false
		}
		message = message[m:]
	}
	return nil, false
}

// streamWriter forwards a child's output to the engine; the stream is not safe for concurrent sends.
type streamWriter struct {
	mu     *sync.Mutex
	server pulumirpc.LanguageRuntime_RunPluginServer
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	data := append([]byte(nil), p...)
	response := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: data}}
	if w.stderr {
		response = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: data}}
	}
	if err := w.server.Send(response); err != nil {
		return 0, err
	}
	return len(p), nil
}

// RunPlugin runs a policy pack: `node <@pulumi/pulumi>/cmd/run-policy-pack <engine address> .` in its folder.
func (host *nodeLanguageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	dir := programDirectory(req)
	if dir == "" {
		return errors.New("RunPlugin: the engine sent no plugin folder")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(req.Pwd, dir)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("RunPlugin: node is not on PATH: %w", err)
	}
	// kind is RunPluginRequest.kind (field 6), unknown to this SDK's generated code. Policy packs ("analyzer")
	// run through run-policy-pack with the folder last; component packages ("resource") through run-plugin
	// with the folder first, so that the engine address stays in the program's argv.
	kind := ""
	if k, ok := bytesField(req.ProtoReflect().GetUnknown(), 6); ok {
		kind = string(k)
	}
	runnerModule := "@pulumi/pulumi/cmd/run-policy-pack"
	if kind != "" && kind != "analyzer" {
		runnerModule = "@pulumi/pulumi/cmd/run-plugin"
	}
	// The pack may share its node_modules with a parent folder, so let node resolve the runner.
	resolve := exec.Command(node, "-e", `console.log(require.resolve("`+runnerModule+`"))`)
	resolve.Dir = dir
	runner, err := resolve.Output()
	if err != nil {
		return fmt.Errorf("RunPlugin: @pulumi/pulumi is not installed for %s: %w", dir, err)
	}

	args := append([]string{strings.TrimSpace(string(runner))}, req.Args...)
	args = append(args, ".")
	if runnerModule != "@pulumi/pulumi/cmd/run-policy-pack" {
		args = append([]string{strings.TrimSpace(string(runner)), dir}, req.Args...)
	}
	cmd := exec.Command(node, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), req.Env...)
	mu := &sync.Mutex{}
	cmd.Stdout = streamWriter{mu: mu, server: server}
	cmd.Stderr = streamWriter{mu: mu, server: server, stderr: true}

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return fmt.Errorf("RunPlugin: %w", err)
		}
		code = int32(exit.ExitCode())
	}
	mu.Lock()
	defer mu.Unlock()
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}
