package attrs

import (
	_ "unsafe" // for go:linkname

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// nanotime is the runtime's CLOCK_MONOTONIC reading through the vDSO, the
// clock bpf_ktime_get_ns uses; unix.ClockGettime would make a syscall.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Now returns CLOCK_MONOTONIC in nanoseconds without a syscall.
func Now() int64 { return nanotime() }

// CPU returns the cpu the calling thread runs on, as getcpu(2) would: from
// RDPID on amd64 cpus that have it (a few ns), from the syscall otherwise
// (hundreds of ns in a VM, which would cost more than every other clock
// attribute together).
func CPU() uint32 {
	if cpu, ok := fastCPU(); ok {
		return cpu
	}
	var cpu uint32
	_, _, _ = unix.RawSyscall(unix.SYS_GETCPU, uintptrOf(&cpu), 0, 0)
	return cpu
}

// Clock serves LATENCY, TIMESTAMPS, CPU and TAG for every kind of IO from
// the stamps kioctx takes (Stamp.SubmitNs and friends).
type Clock struct{}

const clockIDs = Mask(1<<abi.AttrLatency | 1<<abi.AttrTimestamps | 1<<abi.AttrCPU | 1<<abi.AttrTag)

// Name implements Collector.
func (Clock) Name() string { return "clock" }

// Serves implements Collector: the clock ids for every kind.
func (Clock) Serves(Kind) Mask { return clockIDs }

// Available implements Collector: clocks are always available.
func (Clock) Available(uint16, *Target) bool { return true }

// Begin implements Collector; the clock needs nothing before the IO.
func (Clock) Begin(*Target, *Stamp) {}

// End implements Collector; the completion stamps are taken by kioctx.
func (Clock) End(*Target, *Stamp) {}

// Hookless implements Hookless: the engine need not call Begin and End.
func (Clock) Hookless() {}

// TickIDs are the ids an IO may want and still be timed with the TSC
// (Stamp.SubmitTicks): none of them is compared with another clock.
const TickIDs = Mask(1<<abi.AttrLatency | 1<<abi.AttrCPU | 1<<abi.AttrTag)

// Prepare implements Preparer: for LATENCY it waits for the TSC's
// calibration (StartTSC), so that every IO of a run is timed alike. It
// never fails: without a usable TSC, LATENCY is CLOCK_MONOTONIC's.
func (Clock) Prepare(id uint16) error {
	if id == abi.AttrLatency {
		_, _ = WaitTSC()
	}
	return nil
}

// Append implements Collector.
func (Clock) Append(dst []byte, id uint16, t *Target, s *Stamp) []byte {
	switch id {
	case abi.AttrLatency:
		d := s.CompleteNs - s.SubmitNs
		if s.SubmitTicks != 0 {
			// Ticks are taken only once ReadyTSC is not nil.
			d = ReadyTSC().Ns(int64(s.CompleteTicks - s.SubmitTicks))
		}
		return abi.AppendAttrU64(dst, id, uint64(max(d, 0)))
	case abi.AttrTimestamps:
		return abi.AppendAttrTimestamps(dst, uint64(s.SubmitNs), uint64(s.IssueNs), uint64(s.CompleteNs))
	case abi.AttrCPU:
		return abi.AppendAttrU32Pair(dst, id, s.SubmitCPU, s.CompleteCPU)
	}
	return abi.AppendAttrStatus(dst, id, abi.AttrError)
}
