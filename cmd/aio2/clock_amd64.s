#include "textflag.h"

// func rdtsc() uint64
// Not serialized (no LFENCE, not RDTSCP): the read may move a few
// instructions earlier or later, tens of ns at most, which is what the
// command's latencies can bear; fio reads it the same way.
TEXT ·rdtsc(SB), NOSPLIT, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET
