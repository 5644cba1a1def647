package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/aio2/aio2/sim"
)

// cmdSimSize wraps sim.Size: the ring-sizing table by simulation, and
// optionally sim.SizingSVG's plot of overflow against ring_bytes.
func cmdSimSize(args []string, stdout io.Writer) error {
	fs := newFlagSet("sim size", "sim size [--rates=1M,2M,5M,10M] [--bursts=1,64] [--pauses=gc,preempt,steal] [--svg=FILE]")
	seed := fs.Uint64("seed", 1, "seed of every run; the same flags give the same table")
	rates := fs.String("rates", "", "completion rates per second, comma-separated, with k or M (default 1M,2M,5M,10M)")
	bursts := fs.String("bursts", "", "burst sizes, comma-separated (default 1,64)")
	pauses := fs.String("pauses", "", "reaper pause scenarios: none, gc, preempt, steal (default gc,preempt,steal)")
	compare := fs.String("compare-ring", "64k", "the ring_bytes whose overflow the table reports")
	dur := fs.String("duration", "1", "simulated time per run (seconds, or 500ms)")
	svg := fs.String("svg", "", "also write an SVG of overflow against ring_bytes to FILE")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	var cfg sim.SizeConfig
	cfg.Seed = *seed
	for _, s := range splitList(*rates) {
		v, err := parseRate(s)
		if err != nil {
			return usagef("--rates: %v", err)
		}
		cfg.Rates = append(cfg.Rates, v)
	}
	for _, s := range splitList(*bursts) {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			return usagef("--bursts: %q is not a positive count", s)
		}
		cfg.Bursts = append(cfg.Bursts, v)
	}
	for _, s := range splitList(*pauses) {
		p, ok := sim.PauseByName(s)
		if !ok {
			return usagef("--pauses: unknown scenario %q: use none, gc, preempt or steal", s)
		}
		cfg.Pauses = append(cfg.Pauses, p)
	}
	cr, err := parseSize(*compare)
	if err != nil || cr < 4096 || cr > 1<<30 {
		return usagef("--compare-ring=%s: use a size from 4k to 1G", *compare)
	}
	cfg.CompareRing = int(cr)
	if cfg.Duration, err = parseSeconds(*dur); err != nil || cfg.Duration <= 0 {
		return usagef("--duration=%s: use a positive duration", *dur)
	}
	if *svg != "" {
		if !strings.HasSuffix(*svg, ".svg") {
			return usagef("--svg=%s: the name must end in .svg", *svg)
		}
		if err := outputPath(*svg); err != nil {
			return usagef("--svg=%s: %v", *svg, err)
		}
	}
	res, err := sim.Size(cfg, stdout)
	if err != nil {
		return err
	}
	if *svg == "" {
		return nil
	}
	f, err := os.Create(*svg)
	if err != nil {
		return usagef("--svg=%s: %v", *svg, unwrapPath(err))
	}
	// The plot is for the table's first pause scenario: res.Config has
	// the defaults Size filled in (gc first when --pauses is not given).
	pc := sim.PlotConfig{Seed: cfg.Seed, Rates: res.Config.Rates}
	if len(res.Config.Pauses) > 0 {
		pc.Pause = res.Config.Pauses[0]
	}
	if err := sim.SizingSVG(pc, f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseRate reads a rate such as 500k, 2M or 1500000.
func parseRate(s string) (float64, error) {
	mult := 1.0
	t := s
	switch {
	case strings.HasSuffix(t, "k"), strings.HasSuffix(t, "K"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "M"), strings.HasSuffix(t, "m"):
		mult, t = 1e6, t[:len(t)-1]
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v <= 0 {
		return 0, fmt.Errorf("%q is not a rate (such as 500k or 2M)", s)
	}
	return v * mult, nil
}
