// Command aio2 is the command line of the aio2 prototype: it drives real
// disk IO through io_setup2 contexts the way fio does and reports what each
// IO went through (aio2 io), reaps a shared completion ring from another
// process (aio2 reap), decodes a ring region (aio2 ring inspect), says what
// works on this machine and why (aio2 features), and runs the protocol
// simulator (aio2 sim).
//
// What belongs here: flag parsing, the workload loop, statistics and their
// presentation (fio-compatible JSON, percentiles, plots, a progress line),
// and mapping errors to exit statuses. What does not: the ABI (package abi),
// ring protocols (package ring), the context and its drivers (package
// kioctx) or attribute collection (package attrs); this command only uses
// them. Nothing imports this package.
//
// Exit status: 0 on success, 1 when the work failed (an IO error, a
// malformed record found by reap), 2 when the command line or its target is
// wrong; then stderr holds one line that says what to change. The flags of
// every subcommand are described in docs/cli.md.
package main
