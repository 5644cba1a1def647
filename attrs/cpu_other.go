//go:build !amd64

package attrs

func fastCPU() (uint32, bool) { return 0, false }

func rdtsc() uint64 { return 0 }

const hasTSC = false
