package main

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/blang/semver"
	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/integration"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
)

func ptr[T any](v T) *T { return &v }

// captureLogs records logged lines for the duration of a test.
func captureLogs(t *testing.T) func() []string {
	var mu sync.Mutex
	var lines []string
	old := logLine
	logLine = func(_ context.Context, l string) { mu.Lock(); lines = append(lines, l); mu.Unlock() }
	t.Cleanup(func() { logLine = old })
	return func() []string { mu.Lock(); defer mu.Unlock(); return append([]string{}, lines...) }
}

func TestLoggingModes(t *testing.T) {
	for _, tc := range []struct {
		logging        *Logging
		stdout, stderr bool
	}{
		{nil, true, true},
		{ptr(LogStdoutAndStderr), true, true},
		{ptr(LogStdout), true, false},
		{ptr(LogStderr), false, true},
		{ptr(NoLogging), false, false},
	} {
		if got := tc.logging.logsStdout(); got != tc.stdout {
			t.Errorf("%v: logsStdout=%v", tc.logging, got)
		}
		if got := tc.logging.logsStderr(); got != tc.stderr {
			t.Errorf("%v: logsStderr=%v", tc.logging, got)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name       string
		state      CommandState
		command    string
		wantStdout string
		wantStderr string
		wantLogs   []string
		wantErr    []string // substrings the error must contain
		notInErr   []string // substrings the error must not contain
	}{
		{name: "trims one trailing newline", command: `printf 'a\n\n'; printf 'e\n' >&2`,
			wantStdout: "a\n", wantStderr: "e", wantLogs: []string{"a", "", "e"}},
		{name: "stdin", command: "cat", state: CommandState{CommandArgs: CommandArgs{Stdin: ptr("in put")}},
			wantStdout: "in put", wantLogs: []string{"in put"}},
		{name: "environment", command: `echo "$FOO"`,
			state:      CommandState{CommandArgs: CommandArgs{Environment: &map[string]string{"FOO": "bar"}}},
			wantStdout: "bar", wantLogs: []string{"bar"}},
		{name: "dir", command: "pwd", state: CommandState{CommandArgs: CommandArgs{Dir: &dir}},
			wantStdout: dir, wantLogs: []string{dir}},
		{name: "interpreter", command: "print('py' if False else 'custom')",
			state:      CommandState{CommandArgs: CommandArgs{Interpreter: &[]string{"/bin/sh", "-c", `echo "$0"`}}},
			wantStdout: "print('py' if False else 'custom')", wantLogs: []string{"print('py' if False else 'custom')"}},
		{name: "previous output in env by default", command: `echo "$PULUMI_COMMAND_STDOUT/$PULUMI_COMMAND_STDERR"`,
			state:      CommandState{Stdout: "old-out", Stderr: "old-err"},
			wantStdout: "old-out/old-err", wantLogs: []string{"old-out/old-err"}},
		{name: "previous output suppressed", command: `echo "[$PULUMI_COMMAND_STDOUT]"`,
			state:      CommandState{CommandArgs: CommandArgs{AddPreviousOutputInEnv: ptr(false)}, Stdout: "old-out"},
			wantStdout: "[]", wantLogs: []string{"[]"}},
		{name: "logging stdout only", command: "echo o; echo e >&2",
			state:      CommandState{CommandArgs: CommandArgs{Logging: ptr(LogStdout)}},
			wantStdout: "o", wantStderr: "e", wantLogs: []string{"o"}},
		{name: "logging none still captures", command: "echo o; echo e >&2",
			state:      CommandState{CommandArgs: CommandArgs{Logging: ptr(NoLogging)}},
			wantStdout: "o", wantStderr: "e"},
		{name: "failure quotes logged output", command: `echo o; echo b""oom >&2; exit 3`,
			wantLogs: []string{"boom", "o"}, wantErr: []string{"exit status 3", "boom", "o"}},
		{name: "failure with stderr not logged", command: `echo o; echo b""oom >&2; exit 3`,
			state:    CommandState{CommandArgs: CommandArgs{Logging: ptr(LogStdout)}},
			wantLogs: []string{"o"}, wantErr: []string{"exit status 3", "o"}, notInErr: []string{"boom"}},
		{name: "failure with logging none leaks nothing", command: `cat; echo b""oom >&2; exit 3`,
			state:   CommandState{CommandArgs: CommandArgs{Logging: ptr(NoLogging), Stdin: ptr("s3cret")}},
			wantErr: []string{"exit status 3"}, notInErr: []string{"boom", "s3cret", "cat"}},
		{name: "missing dir fails", command: "true",
			state:   CommandState{CommandArgs: CommandArgs{Dir: ptr(filepath.Join(dir, "nope"))}},
			wantErr: []string{"nope"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := captureLogs(t)
			s := tc.state
			err := s.run(context.Background(), tc.command)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatal("expected an error")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not contain %q", err, w)
					}
				}
				for _, w := range tc.notInErr {
					if strings.Contains(err.Error(), w) {
						t.Errorf("error %q leaks %q", err, w)
					}
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if s.Stdout != tc.wantStdout || s.Stderr != tc.wantStderr {
					t.Errorf("stdout=%q stderr=%q, want %q %q", s.Stdout, s.Stderr, tc.wantStdout, tc.wantStderr)
				}
			}
			// stdout and stderr are copied concurrently, so their relative order is not fixed.
			got := logs()
			sort.Strings(got)
			sort.Strings(tc.wantLogs)
			if strings.Join(got, "|") != strings.Join(tc.wantLogs, "|") {
				t.Errorf("logs=%q, want %q", got, tc.wantLogs)
			}
		})
	}
}

// The tests below drive the provider through pulumi-go-provider's in-process
// server, i.e. through the same decode/diff/secret handling the engine sees.

func server(t *testing.T) integration.Server {
	prov, err := newProvider()
	if err != nil {
		t.Fatal(err)
	}
	s, err := integration.NewServer(t.Context(), "command", semver.MustParse("1.2.1"), integration.WithProvider(prov))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cmdURN(name string) resource.URN {
	return resource.NewURN("stack", "proj", "", tokens.Type(localCommandToken), name)
}

func str(s string) property.Value { return property.New(s) }

func checked(t *testing.T, s integration.Server, urn resource.URN, in map[string]property.Value) property.Map {
	resp, err := s.Check(p.CheckRequest{Urn: urn, Inputs: property.NewMap(in)})
	if err != nil || len(resp.Failures) > 0 {
		t.Fatalf("check: %v %v", err, resp.Failures)
	}
	return resp.Inputs
}

func TestDiff(t *testing.T) {
	s := server(t)
	urn := cmdURN("diff")
	base := map[string]property.Value{
		"create":   str("echo hi"),
		"triggers": property.New([]property.Value{str("a")}),
	}
	olds := checked(t, s, urn, base)
	for _, tc := range []struct {
		name                 string
		change               map[string]property.Value
		hasChanges, replaces bool
	}{
		{name: "no change"},
		{name: "create changes -> update", change: map[string]property.Value{"create": str("echo bye")}, hasChanges: true},
		{name: "environment changes -> update", change: map[string]property.Value{"environment": property.New(map[string]property.Value{"A": str("b")})}, hasChanges: true},
		{name: "trigger changes -> replace", change: map[string]property.Value{"triggers": property.New([]property.Value{str("b")})}, hasChanges: true, replaces: true},
		{name: "trigger appended -> replace", change: map[string]property.Value{"triggers": property.New([]property.Value{str("a"), str("b")})}, hasChanges: true, replaces: true},
		{name: "triggers removed -> replace", change: map[string]property.Value{"triggers": property.New(property.Null)}, hasChanges: true, replaces: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := map[string]property.Value{}
			for k, v := range base {
				in[k] = v
			}
			for k, v := range tc.change {
				in[k] = v
			}
			news := checked(t, s, urn, in)
			resp, err := s.Diff(p.DiffRequest{ID: "x", Urn: urn, State: olds, OldInputs: olds, Inputs: news})
			if err != nil {
				t.Fatal(err)
			}
			replaces := false
			for _, d := range resp.DetailedDiff {
				if strings.Contains(string(d.Kind), "replace") {
					replaces = true
				}
			}
			if resp.HasChanges != tc.hasChanges || replaces != tc.replaces || resp.DeleteBeforeReplace {
				t.Errorf("diff = %+v", resp)
			}
		})
	}
}

func TestLifecycle(t *testing.T) {
	captureLogs(t)
	s := server(t)
	urn := cmdURN("life")
	marker := filepath.Join(t.TempDir(), "marker")
	in := map[string]property.Value{
		"create": str("echo created; echo created >> " + marker),
		"update": str(`echo "updated after $PULUMI_COMMAND_STDOUT"`),
		"delete": str(`echo "deleted after $PULUMI_COMMAND_STDOUT" >> ` + marker),
		"stdin":  str("top secret").WithSecret(true),
	}
	inputs := checked(t, s, urn, in)

	// Preview: nothing runs, outputs are unknown.
	prev, err := s.Create(p.CreateRequest{Urn: urn, Properties: inputs, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("create command ran during preview")
	}
	if !prev.Properties.Get("stdout").IsComputed() {
		t.Errorf("preview stdout = %v, want unknown", prev.Properties.Get("stdout"))
	}

	created, err := s.Create(p.CreateRequest{Urn: urn, Properties: inputs})
	if err != nil {
		t.Fatal(err)
	}
	out := created.Properties
	if !strings.HasPrefix(created.ID, "life") {
		t.Errorf("id = %q", created.ID)
	}
	// stdin is secret, so it and everything derived from the inputs must be too.
	for _, k := range []string{"stdin", "stdout", "stderr"} {
		if !out.Get(k).Secret() {
			t.Errorf("%s is not secret: %v", k, out.Get(k))
		}
	}
	if out.Get("create").Secret() {
		t.Errorf("create became secret; only outputs derived from all inputs should")
	}
	if got := out.Get("stdout").AsString(); got != "created" {
		t.Errorf("stdout = %q", got)
	}
	if !out.Get("addPreviousOutputInEnv").AsBool() {
		t.Errorf("addPreviousOutputInEnv default not applied: %v", out.Get("addPreviousOutputInEnv"))
	}

	// Update: a changed input runs `update`, which sees the previous stdout.
	in["environment"] = property.New(map[string]property.Value{"X": str("1")})
	newInputs := checked(t, s, urn, in)
	upd, err := s.Update(p.UpdateRequest{ID: created.ID, Urn: urn, State: out, OldInputs: inputs, Inputs: newInputs})
	if err != nil {
		t.Fatal(err)
	}
	if got := upd.Properties.Get("stdout").AsString(); got != "updated after created" {
		t.Errorf("update stdout = %q", got)
	}
	if !upd.Properties.Get("stdout").Secret() || !upd.Properties.Get("stdin").Secret() {
		t.Errorf("update lost secretness: %v", upd.Properties)
	}

	// Without `update`, an update re-runs `create`.
	delete(in, "update")
	in["environment"] = property.New(map[string]property.Value{"X": str("2")})
	noUpd := checked(t, s, urn, in)
	upd2, err := s.Update(p.UpdateRequest{ID: created.ID, Urn: urn, State: upd.Properties, OldInputs: newInputs, Inputs: noUpd})
	if err != nil {
		t.Fatal(err)
	}
	if got := upd2.Properties.Get("stdout").AsString(); got != "created" {
		t.Errorf("update without `update` stdout = %q", got)
	}

	if err := s.Delete(p.DeleteRequest{ID: created.ID, Urn: urn, Properties: upd2.Properties}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(marker)
	if got := string(b); got != "created\ncreated\ndeleted after created\n" {
		t.Errorf("marker = %q", got)
	}
}

func TestFailedCreateIsAnError(t *testing.T) {
	captureLogs(t)
	s := server(t)
	urn := cmdURN("fail")
	inputs := checked(t, s, urn, map[string]property.Value{"create": str("exit 1")})
	if _, err := s.Create(p.CreateRequest{Urn: urn, Properties: inputs}); err == nil {
		t.Fatal("expected create to fail")
	}
}

func TestUnsupported(t *testing.T) {
	s := server(t)
	remote := resource.NewURN("stack", "proj", "", "command:remote:Command", "r")
	if _, err := s.Check(p.CheckRequest{Urn: remote, Inputs: property.NewMap(nil)}); err == nil ||
		!strings.Contains(err.Error(), "not supported by this build") {
		t.Errorf("remote.Command: %v", err)
	}
	if _, err := s.Invoke(p.InvokeRequest{Token: "command:local:run"}); err == nil ||
		!strings.Contains(err.Error(), "not supported by this build") {
		t.Errorf("local.run: %v", err)
	}
	assets := checked(t, s, cmdURN("a"), map[string]property.Value{
		"create": str("true"), "assetPaths": property.New([]property.Value{str("*")}),
	})
	if _, err := s.Create(p.CreateRequest{Urn: cmdURN("a"), Properties: assets}); err == nil || !strings.Contains(err.Error(), "assetPaths") {
		t.Errorf("assetPaths: %v", err)
	}
}
