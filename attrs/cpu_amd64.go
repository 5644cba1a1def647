package attrs

// rdpid returns IA32_TSC_AUX; only call it if hasRDPID.
func rdpid() uint32

func cpuidRDPID() bool

// hasRDPID is decided once: the instruction faults where the cpu lacks it.
var hasRDPID = cpuidRDPID()

// fastCPU returns the current cpu without a syscall where the cpu has
// RDPID; ok is false otherwise.
func fastCPU() (cpu uint32, ok bool) {
	if !hasRDPID {
		return 0, false
	}
	return rdpid() & 0xfff, true
}

// rdtsc returns the time-stamp counter.
func rdtsc() uint64

const hasTSC = true
