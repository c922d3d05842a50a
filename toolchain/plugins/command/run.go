package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"

	p "github.com/pulumi/pulumi-go-provider"
)

// logLine is where logged output lines go. A variable so tests can capture
// them; in the plugin each line becomes an engine status message, as upstream.
var logLine = func(ctx context.Context, line string) { p.GetLogger(ctx).InfoStatus(line) }

func defaultInterpreter() []string {
	if runtime.GOOS == "windows" {
		return []string{"cmd", "/C"}
	}
	return []string{"/bin/sh", "-c"}
}

// run executes command with s's settings. s.Stdout/s.Stderr hold the previous
// run's output on entry (exposed in the environment) and this run's on success.
func (s *CommandState) run(ctx context.Context, command string) error {
	argv := defaultInterpreter()
	if s.Interpreter != nil && len(*s.Interpreter) > 0 {
		argv = *s.Interpreter
	}
	argv = append(append([]string{}, argv...), command)

	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if s.Dir != nil {
		cmd.Dir = *s.Dir
	}
	cmd.Env = s.env(os.Environ())
	if s.Stdin != nil && *s.Stdin != "" {
		cmd.Stdin = strings.NewReader(*s.Stdin)
	}

	// logged receives only the streams that logging allows; it is also the
	// only output ever quoted in an error, so "none" never leaks output.
	logged := &lineLogger{emit: func(line string) { logLine(ctx, line) }}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if s.Logging.logsStdout() {
		cmd.Stdout = multi(&stdout, logged)
	}
	if s.Logging.logsStderr() {
		cmd.Stderr = multi(&stderr, logged)
	}

	err := cmd.Run()
	logged.flush()
	if err != nil {
		if s.Logging != nil && *s.Logging == NoLogging {
			return fmt.Errorf("%w: running command (command and output not shown: logging is %q)", err, NoLogging)
		}
		return fmt.Errorf("%w: running %q:\n%s", err, command, logged.all.String())
	}
	// Upstream trims exactly one trailing newline.
	s.Stdout = strings.TrimSuffix(stdout.String(), "\n")
	s.Stderr = strings.TrimSuffix(stderr.String(), "\n")
	return nil
}

// env builds the child environment: base, then user variables, then the
// previous outputs (later entries win in os/exec).
func (s *CommandState) env(base []string) []string {
	env := append([]string{}, base...)
	if s.Environment != nil {
		for k, v := range *s.Environment {
			env = append(env, k+"="+v)
		}
	}
	if s.AddPreviousOutputInEnv == nil || *s.AddPreviousOutputInEnv {
		if s.Stdout != "" {
			env = append(env, "PULUMI_COMMAND_STDOUT="+s.Stdout)
		}
		if s.Stderr != "" {
			env = append(env, "PULUMI_COMMAND_STDERR="+s.Stderr)
		}
	}
	return env
}

func multi(a *bytes.Buffer, b *lineLogger) *teeWriter { return &teeWriter{a, b} }

type teeWriter struct {
	buf *bytes.Buffer
	log *lineLogger
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.buf.Write(b)
	return t.log.Write(b)
}

// lineLogger splits interleaved stdout/stderr into lines. os/exec copies the
// two streams from separate goroutines, hence the mutex.
type lineLogger struct {
	mu      sync.Mutex
	partial []byte
	all     bytes.Buffer
	emit    func(string)
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(b)
	l.partial = append(l.partial, b...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.emit(strings.TrimSuffix(string(l.partial[:i]), "\r"))
		l.partial = l.partial[i+1:]
	}
	return len(b), nil
}

func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(string(l.partial))
		l.partial = nil
	}
}
