package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// parseSize reads a byte count the way fio does: a number with an optional
// k, m, g or t suffix (powers of 1024, case-insensitive, an optional "i"
// and "b" allowed: 4k, 4K, 4KiB, 16M, 1g).
func parseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	t = strings.TrimSuffix(t, "i")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult = 1 << 10
		case 'm':
			mult = 1 << 20
		case 'g':
			mult = 1 << 30
		case 't':
			mult = 1 << 40
		}
		if mult != 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || (v > 0 && mult > (1<<62)/v) {
		return 0, fmt.Errorf("%q is not a size (use a number with an optional k, m, g or t suffix, such as 4k or 16M)", s)
	}
	return v * mult, nil
}

// maxSeconds bounds a duration given in seconds: a year, well inside
// time.Duration's 292 years.
const maxSeconds = 365 * 24 * 3600

// parseSeconds reads a duration the way fio's --runtime does: a bare
// number is seconds; a Go duration ("1500ms", "2m") is also accepted.
func parseSeconds(s string) (time.Duration, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil {
		switch {
		case v < 0:
			return 0, fmt.Errorf("%q is negative", s)
		case math.IsNaN(v) || v > maxSeconds:
			// Beyond what a time.Duration holds the conversion is
			// undefined (on amd64 it gave a negative duration that
			// meant no limit at all: found by review, 2026-11-22).
			return 0, fmt.Errorf("%q is not a number of seconds up to %d", s, int64(maxSeconds))
		}
		return time.Duration(v * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration (use seconds, such as 10, or 1500ms, 2m)", s)
	}
	return d, nil
}

// humanBytes formats n bytes with a binary unit, as fio does (4096 -> 4KiB).
func humanBytes(n float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if n == float64(int64(n)) {
		return fmt.Sprintf("%d%s", int64(n), units[i])
	}
	return fmt.Sprintf("%.1f%s", n, units[i])
}

// humanCount formats n with a k or M suffix (12.3k).
func humanCount(n float64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", n/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", n/1e3)
	}
	return fmt.Sprintf("%.0f", n)
}
