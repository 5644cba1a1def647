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
// status: OK with a value, UNSUPPORTED (no collector serves it), or
// UNAVAILABLE (served, but not for this IO: no privilege, O_DIRECT asked
// about the page cache). Hot-path calls do not allocate.
package attrs
