package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/aio2/aio2/sim"
)

func cmdSim(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("sim: use \"aio2 sim check\" or \"aio2 sim size\"")
	}
	switch args[0] {
	case "check":
		return cmdSimCheck(args[1:], stdout)
	case "size":
		return cmdSimSize(args[1:], stdout)
	}
	if isHelp(args[0]) {
		fmt.Fprint(stdout, "usage: aio2 sim check|size [flags]\n\n\"aio2 sim check -h\" and \"aio2 sim size -h\" list their flags.\n")
		return flag.ErrHelp
	}
	return usagef("sim: unknown subcommand %q: use check or size", args[0])
}

func cmdSimCheck(args []string, stdout io.Writer) error {
	fs := newFlagSet("sim check", "sim check [--bound=full] [--seed=1] [--walks=300] [--steps=20000] [--brief]")
	var cfg sim.CheckConfig
	fs.StringVar(&cfg.Bound, "bound", sim.BoundFull, "size of the exhaustive runs: ci (seconds), full (under a minute) or large (minutes, gigabytes)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the random walks; the same seed gives the same report")
	fs.IntVar(&cfg.Walks, "walks", 300, "random walks per randomized item")
	fs.IntVar(&cfg.Steps, "steps", 20000, "steps per random walk")
	fs.BoolVar(&cfg.Brief, "brief", false, "leave the step-by-step counterexample traces out")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	switch cfg.Bound {
	case sim.BoundCI, sim.BoundFull, sim.BoundLarge:
	default:
		return usagef("--bound=%s: use ci, full or large", cfg.Bound)
	}
	if cfg.Walks < 1 || cfg.Steps < 1 {
		return usagef("--walks and --steps must be at least 1")
	}
	res, err := sim.Check(cfg, stdout)
	if err != nil {
		return err
	}
	if !res.OK {
		bad := 0
		for _, it := range res.Items {
			if !it.OK {
				bad++
			}
		}
		return fmt.Errorf("sim check: %d of %d items did not meet their expectation", bad, len(res.Items))
	}
	return nil
}

// noArgs refuses arguments left after the flags: sim check and sim size
// take none, and the flag package stops at the first one, so flags after
// it were silently ignored too.
func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() == 0 {
		return nil
	}
	return usagef("%s: unexpected argument %q (it takes only flags, --name=value)", fs.Name(), fs.Arg(0))
}
