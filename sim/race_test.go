//go:build race

package sim

// raceEnabled: the package is single-goroutine, so the race detector can
// find nothing in it; under -race the heaviest bounds are left to the plain
// go test run to keep CI fast.
const raceEnabled = true
