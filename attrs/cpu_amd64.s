#include "textflag.h"

// func rdpid() uint32
// RDPID reads IA32_TSC_AUX, which Linux sets on every cpu to
// (node << 12) | cpu (arch/x86/kernel/cpu/common.c setup_getcpu): the
// vDSO's getcpu without the call.
TEXT ·rdpid(SB), NOSPLIT, $0-4
	RDPID AX
	MOVL AX, ret+0(FP)
	RET

// func cpuidRDPID() bool
// CPUID leaf 7, subleaf 0: ECX bit 22 is RDPID.
TEXT ·cpuidRDPID(SB), NOSPLIT, $0-1
	MOVL $0, AX
	CPUID
	CMPL AX, $7
	JLT  no
	MOVL $7, AX
	MOVL $0, CX
	CPUID
	SHRL $22, CX
	ANDL $1, CX
	MOVB CX, ret+0(FP)
	RET
no:
	MOVB $0, ret+0(FP)
	RET

// func rdtsc() uint64
// Not serialized (no LFENCE, not RDTSCP): the read may move a few
// instructions earlier or later, tens of ns at most, which durations of
// IO can bear; the vDSO's serialized read is part of why it costs 27–33
// ns against 11 here (BenchmarkTSC).
TEXT ·rdtsc(SB), NOSPLIT, $0-8
	RDTSC
	SHLQ $32, DX
	ORQ  DX, AX
	MOVQ AX, ret+0(FP)
	RET
