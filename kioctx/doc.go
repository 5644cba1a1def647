// Package kioctx is the "kernel side" of the aio2 prototype: io_setup2
// contexts (spec sections 1, 7 and 8 of docs/abi.md) built over real Linux
// native AIO, with a worker pool for what native AIO would run
// synchronously and a poll path that makes sockets and pipes truly
// asynchronous.
//
// # Life of a context
//
// Setup negotiates the version (1: Linux's legacy aio_ring layout, 2: the
// byte-unit ring), makes the ring (in Go memory when it is private, in a
// sealed memfd another process may map with SETUP_SHARED), makes or adopts
// the eventfd, and
// reports features and attributes back in the params. Submit (typed
// [Iocb] values) and SubmitRaw (iocb2 records, byte units) assign each
// iocb its key, count it in flight, and hand it to a driver. Completions
// are encoded as EVENT records and produced into the ring (or, when the
// ring is full, onto the ordered overflow list); the context's eventfd is
// signalled once per publish batch unless a reaper set UF_NO_EVENTFD.
// Events are taken without a syscall with [Context.Reap] (any number of
// goroutines, lock-free) or from another process that maps the ring, or
// with [Context.GetEvents], which first flushes the overflow list and waits
// for at least min events. Cancel and Destroy keep the exactly-once rule:
// every accepted iocb yields exactly one event.
//
// # Drivers
//
// The driver is chosen per iocb by what its fd is:
//
//   - native: O_DIRECT regular files and block devices, FSYNC and FDSYNC
//     go to Linux native AIO (io_submit in batches); completions are reaped
//     from the kernel's own aio_ring mapping in user space when its header
//     allows, io_getevents otherwise. A GetEvents caller that must wait
//     blocks in io_getevents, keeping its P when there is another one,
//     and completes the IO on its own goroutine;
//     when nobody waits, a background goroutine parks in the netpoller on
//     a driver eventfd the iocbs signal (IOCB_FLAG_RESFD). docs/kioctx.md
//     says why, with figures.
//   - pool: buffered regular-file IO (which io_submit would run
//     synchronously) and the SYSCALL opcode (an allowlist, see
//     [SyscallAllowed]) run on a bounded pool of worker goroutines.
//   - poll: reads and writes on sockets, pipes and FIFOs are tried with
//     RWF_NOWAIT; on EAGAIN a one-shot IOCB_CMD_POLL is armed through native
//     AIO, and the IO is tried again when it fires (EAGAIN re-arms). The
//     submitter never blocks.
//   - NOOP completes at once.
//
// Choosing the driver costs an fcntl(F_GETFL) per fd per submit call,
// since O_DIRECT can be switched with F_SETFL. [Context.RegisterFile]
// takes that look once, like io_uring's registered files: the caller
// promises the fd stays the same open file with the same flags until
// [Context.UnregisterFile], and its iocbs are classified without a
// syscall.
//
// Buffers handed to the kernel must stay valid while in flight: the typed
// Submit pins Go buffers (runtime.Pinner) in the in-flight slot; raw iocb2
// records carry plain addresses, which the caller keeps valid (use
// [AlignedBuf], which is outside the Go heap).
//
// What belongs here: the context, in-flight accounting, drivers, the
// syscalls of native AIO, buffer helpers. What does not: wire formats
// (package abi), ring protocols (package ring), attribute collection
// (package attrs), command-line presentation (cmd/aio2).
//
// Errors are, for the most part, *Error values (or *abi.Error for
// malformed input) that unwrap to the errno a kernel implementation would
// return, so errors.Is(err, unix.EAGAIN) works. The exceptions: a corrupt
// ring found by Reap or GetEvents is a *ring.CorruptError (EUCLEAN);
// GetEventsContext returns ctx.Err(); Setup wraps the ring package's
// errors for the shared ring's memfd and mapping (fmt.Errorf with %w, so
// errors.Is still reaches the errno). Reap and GetEvents return whole
// events together with their errors: consume buf[:n] whatever the error.
package kioctx
