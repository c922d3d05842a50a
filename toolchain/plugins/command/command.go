package main

import (
	"context"
	"errors"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Command is command:local:Command. Field names and tags mirror the schema the
// @pulumi/command 1.2.1 npm SDK was generated from, so state written by this
// plugin and by the upstream one have the same shape.
type Command struct{}

// Logging selects which output streams are echoed as engine status messages.
type Logging string

const (
	LogStdout          Logging = "stdout"
	LogStderr          Logging = "stderr"
	LogStdoutAndStderr Logging = "stdoutAndStderr"
	NoLogging          Logging = "none"
)

func (Logging) Values() []infer.EnumValue[Logging] {
	return []infer.EnumValue[Logging]{
		{Name: "Stdout", Value: LogStdout, Description: "Capture stdout in logs but not stderr"},
		{Name: "Stderr", Value: LogStderr, Description: "Capture stderr in logs but not stdout"},
		{Name: "StdoutAndStderr", Value: LogStdoutAndStderr, Description: "Capture stdout and stderr in logs"},
		{Name: "None", Value: NoLogging, Description: "Capture no logs"},
	}
}

func (l *Logging) Annotate(a infer.Annotator) { a.SetToken("local", "Logging") }

// Unset means both streams, as upstream.
func (l *Logging) logsStdout() bool { return l == nil || *l == LogStdout || *l == LogStdoutAndStderr }
func (l *Logging) logsStderr() bool { return l == nil || *l == LogStderr || *l == LogStdoutAndStderr }

type CommandArgs struct {
	Create   *string `pulumi:"create,optional"`
	Update   *string `pulumi:"update,optional"`
	Delete   *string `pulumi:"delete,optional"`
	Stdin    *string `pulumi:"stdin,optional"`
	Triggers *[]any  `pulumi:"triggers,optional" provider:"replaceOnChanges"`

	Environment            *map[string]string `pulumi:"environment,optional"`
	Dir                    *string            `pulumi:"dir,optional"`
	Interpreter            *[]string          `pulumi:"interpreter,optional"`
	Logging                *Logging           `pulumi:"logging,optional"`
	AddPreviousOutputInEnv *bool              `pulumi:"addPreviousOutputInEnv,optional"`

	// Accepted so the SDK's inputs decode, but rejected when non-empty: this
	// build does not implement asset collection (see errNoAssets).
	AssetPaths   *[]string `pulumi:"assetPaths,optional"`
	ArchivePaths *[]string `pulumi:"archivePaths,optional"`
}

type CommandState struct {
	CommandArgs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

func (c *Command) Annotate(a infer.Annotator) {
	a.SetToken("local", "Command")
	a.Describe(&c, "A local command to be executed (create/update/delete lifecycle).")
}

func (c *CommandArgs) Annotate(a infer.Annotator) {
	a.Describe(&c.Create, "The command to run once on resource creation (and on update if `update` is unset).")
	a.Describe(&c.Update, "The command to run when inputs other than `triggers` change.")
	a.Describe(&c.Delete, "The command to run on resource deletion.")
	a.Describe(&c.Stdin, "Pass a string to the command's process as standard in.")
	a.Describe(&c.Triggers, "The resource is replaced if any of these values change.")
	a.Describe(&c.Environment, "Additional environment variables available to the command's process.")
	a.Describe(&c.Dir, "The directory to run the command from; the command fails if it does not exist.")
	a.Describe(&c.Interpreter, "The program and arguments to run the command. Defaults to [\"/bin/sh\", \"-c\"].")
	a.Describe(&c.Logging, "Which output streams are logged. Defaults to stdoutAndStderr.")
	a.Describe(&c.AddPreviousOutputInEnv, "Expose the previous stdout/stderr as PULUMI_COMMAND_STDOUT/PULUMI_COMMAND_STDERR. Defaults to true.")
	a.SetDefault(&c.AddPreviousOutputInEnv, true)
}

// WireDependencies: infer's default only carries secretness between fields of
// the same name, which would leave stdout/stderr public even when they were
// produced from a secret stdin or environment. Like upstream, every output
// depends on every input.
func (*Command) WireDependencies(f infer.FieldSelector, args *CommandArgs, state *CommandState) {
	// Echoed inputs keep exactly their own secretness/unknownness.
	pairs := []struct{ in, out any }{
		{&args.Create, &state.Create}, {&args.Update, &state.Update}, {&args.Delete, &state.Delete},
		{&args.Stdin, &state.Stdin}, {&args.Triggers, &state.Triggers},
		{&args.Environment, &state.Environment}, {&args.Dir, &state.Dir},
		{&args.Interpreter, &state.Interpreter}, {&args.Logging, &state.Logging},
		{&args.AddPreviousOutputInEnv, &state.AddPreviousOutputInEnv},
		{&args.AssetPaths, &state.AssetPaths}, {&args.ArchivePaths, &state.ArchivePaths},
	}
	for _, p := range pairs {
		f.OutputField(p.out).DependsOn(f.InputField(p.in))
	}
	all := f.InputField(args)
	f.OutputField(&state.Stdout).DependsOn(all)
	f.OutputField(&state.Stderr).DependsOn(all)
}

var errNoAssets = errors.New("assetPaths/archivePaths are not supported by this build of pulumi-resource-command")

func (a CommandArgs) validate() error {
	if (a.AssetPaths != nil && len(*a.AssetPaths) > 0) || (a.ArchivePaths != nil && len(*a.ArchivePaths) > 0) {
		return errNoAssets
	}
	return nil
}

func (*Command) Create(ctx context.Context, req infer.CreateRequest[CommandArgs]) (infer.CreateResponse[CommandState], error) {
	state := CommandState{CommandArgs: req.Inputs}
	if err := req.Inputs.validate(); err != nil {
		return infer.CreateResponse[CommandState]{}, err
	}
	id, err := resource.NewUniqueHex(req.Name, 8, 0)
	if err != nil {
		return infer.CreateResponse[CommandState]{}, err
	}
	// Nothing runs during preview; infer marks the outputs unknown.
	if req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandState]{ID: id, Output: state}, nil
	}
	if err := state.run(ctx, *req.Inputs.Create); err != nil {
		return infer.CreateResponse[CommandState]{}, err
	}
	return infer.CreateResponse[CommandState]{ID: id, Output: state}, nil
}

// Update is reached for any input change except triggers (replaceOnChanges).
func (*Command) Update(ctx context.Context, req infer.UpdateRequest[CommandArgs, CommandState]) (infer.UpdateResponse[CommandState], error) {
	// Keep the previous outputs: they feed PULUMI_COMMAND_STDOUT/STDERR and
	// stay as outputs if neither update nor create is set.
	state := CommandState{CommandArgs: req.Inputs, Stdout: req.State.Stdout, Stderr: req.State.Stderr}
	if err := req.Inputs.validate(); err != nil {
		return infer.UpdateResponse[CommandState]{}, err
	}
	cmd := req.Inputs.Update
	if cmd == nil {
		cmd = req.Inputs.Create
	}
	if req.DryRun || cmd == nil {
		return infer.UpdateResponse[CommandState]{Output: state}, nil
	}
	err := state.run(ctx, *cmd)
	return infer.UpdateResponse[CommandState]{Output: state}, err
}

func (*Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandState]) (infer.DeleteResponse, error) {
	if req.State.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	state := req.State
	return infer.DeleteResponse{}, state.run(ctx, *req.State.Delete)
}
