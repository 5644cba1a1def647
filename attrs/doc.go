// Package attrs is the catalogue of completion attributes (spec section 9)
// and the collectors that measure them: clocks (LATENCY, TIMESTAMPS, CPU,
// TAG), page-cache probes (CACHE via cachestat(2) or eBPF), and eBPF
// programs on block tracepoints (DEVICE).
//
// What belongs here: deciding, per IO, which requested attributes can be
// served, taking the measurements at the points kioctx calls (submit,
// issue, around a synchronous syscall, completion) and encoding each
// requested id with a status. What does not: submitting IO (kioctx), the
// ring (ring), or wire formats (abi, which this package uses to encode).
//
// Every requested id comes back exactly once, in request order, with a
// status: OK with a value, UNSUPPORTED (no collector serves it),
// UNAVAILABLE (served, but not for this IO: no privilege, O_DIRECT asked
// about the page cache), or ERROR (the collector failed, or the request
// was unusable, such as a TAG over 256 bytes). Hot-path calls do not
// allocate.
//
// Collectors: Clock; Cache (CACHE for buffered reads, from eBPF programs on
// mm_filemap_add_to_page_cache and mm_filemap_get_pages, or cachestat(2));
// Device (DEVICE for O_DIRECT IO, from eBPF programs on block_rq_issue and
// block_rq_complete, joined to the IO through the request's iomap direct-IO
// kiocb and, for native AIO, the iocb behind it: Target.AioObj and
// AioData). Default returns an engine with all of them; Probe reports which
// sources work on this machine and why not.
//
// The eBPF programs are written in C (bpf/attrs.bpf.c, against the trimmed
// bpf/vmlinux.h) and compiled by bpf2go into the committed probe_bpfel.go
// and probe_bpfel.o (see gen.go). They load on the first IO that asks for
// their attribute, once per process, and are shared by every context.
// Clocks: Now is CLOCK_MONOTONIC (the clock of TIMESTAMPS and of the eBPF
// programs); TSC is the cpu's time-stamp counter calibrated against it
// once per process (StartTSC, WaitTSC), which times LATENCY for IO that
// asks for nothing compared with another clock, and which aio2 io uses
// for its own latencies.
//
// unsafe is confined to unsafe.go (memory shared with the programs),
// clock.go (go:linkname of runtime.nanotime) and cpu_amd64.s (RDPID,
// RDTSC). docs/attributes.md says what each attribute means, how exact it
// is and what it costs.
package attrs
