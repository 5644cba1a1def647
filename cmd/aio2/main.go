package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// usageError is a mistake the user can fix: a bad flag, a target that does
// not exist or is read-only, a size that does not fit. It exits with
// status 2 and its message says what to change.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

const topUsage = `usage: aio2 <command> [flags] [args]

commands:
  io            run a disk workload through io_setup2 contexts (fio-style flags)
  reap PATH     reap a shared ring region from another process
  ring inspect PATH
                print a ring region's header and the records between head and tail
  features      what works on this machine and what does not, and why
  sim check|size
                run the ring protocol simulator

"aio2 <command> -h" lists a command's flags; docs/cli.md describes them all.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status. It is main
// without os.Exit, so that deferred cleanups (temporary files) always run.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "io":
		err = cmdIO(args[1:], stdout, stderr)
	case "reap":
		err = cmdReap(args[1:], stdout, stderr)
	case "ring":
		if len(args) == 2 && isHelp(args[1]) {
			fmt.Fprint(stdout, "usage: aio2 ring inspect [flags] PATH\n\n\"aio2 ring inspect -h\" lists its flags.\n")
			return 0
		}
		if len(args) < 2 || args[1] != "inspect" {
			err = usagef("ring: the only subcommand is \"ring inspect PATH\"")
			break
		}
		err = cmdInspect(args[2:], stdout, stderr)
	case "features":
		err = cmdFeatures(args[1:], stdout, stderr)
	case "sim":
		err = cmdSim(args[1:], stdout, stderr)
	default:
		if isHelp(args[0]) {
			fmt.Fprint(stdout, topUsage)
			return 0
		}
		err = usagef("unknown command %q: use one of io, reap, ring inspect, features, sim", args[0])
	}
	return exitStatus(err, stderr)
}

// isHelp reports whether arg asks for help rather than naming a command.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

func exitStatus(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "aio2: "+oneLine(ue.msg))
		return 2
	}
	fmt.Fprintln(stderr, "aio2: "+oneLine(err.Error()))
	return 1
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", "; ") }

// newFlagSet returns a flag set that reports parse errors as usage errors
// instead of exiting, so that cleanups run and the status is 2.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: aio2 %s\n\nflags (--name=value or -name value):\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs. -h prints the flags to stdout and
// returns flag.ErrHelp (status 0); a parse error becomes a one-line usage
// error (status 2) instead of the flag package's full listing.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return err
	}
	if err != nil {
		return usagef("%s: %v (see \"aio2 %s -h\")", fs.Name(), err, fs.Name())
	}
	return nil
}
