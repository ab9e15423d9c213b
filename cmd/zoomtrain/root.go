package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// streams are the command's IO, injected so that tests run commands against buffers.
type streams struct {
	In  io.Reader
	Out io.Writer // results
	Err io.Writer // progress, logs and errors
}

func stdStreams() streams {
	return streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
}

// Exit codes: 0 success, 1 a failed command, 2 a usage error; 130 and 143 an interrupted
// run (SIGINT, SIGTERM).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks an error in the command line itself: the command prints its usage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCodeError carries a specific exit status (an interrupted run).
type exitCodeError struct {
	err  error
	code int
}

func (e exitCodeError) Error() string { return e.err.Error() }
func (e exitCodeError) Unwrap() error { return e.err }

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "zoomtrain",
		Short: "Train small-input networks on large images with a learned saliency sampler",
		Long: `zoomtrain trains image classifiers with the saliency-based sampling layer of
"Learning to Zoom" (Recasens et al., ECCV 2018).

A saliency network looks at a cheap low-resolution copy of each image, its saliency
map becomes a sampling grid that spends more samples on salient regions, and the
full-resolution image is sampled through that grid into the small input of the task
network. Both networks train jointly, end to end.

Start with 'zoomtrain train' (the built-in needle data set, no download needed).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version(),
	}
	root.SetVersionTemplate("zoomtrain {{.Version}}\n")
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(
		newWarpCmd(s),
		newDataCmd(s),
		newTrainCmd(s),
		newImportCmd(s),
		newEvalCmd(s),
		newPredictCmd(s),
		newVisualizeCmd(s),
		newPlotCmd(s),
		newBenchCmd(s),
	)
	return root
}

// run executes the command line and returns the process exit status. Errors are printed
// as one line on stderr; usage errors add the command's usage.
func run(args []string, s streams) int {
	root := newRootCmd(s)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	fmt.Fprintf(s.Err, "zoomtrain: %s\n", msg)
	var ue usageError
	if errors.As(err, &ue) || isCobraUsageError(err) {
		if cmd != nil {
			fmt.Fprintf(s.Err, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return exitUsage
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec.code
	}
	return exitError
}

// isCobraUsageError recognises the argument-count and unknown-command errors that cobra
// returns as plain errors.
func isCobraUsageError(err error) bool {
	m := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand"} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}
