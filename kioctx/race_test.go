//go:build race

package kioctx

const raceEnabled = true
