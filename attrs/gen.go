package attrs

// The eBPF objects are generated from bpf/attrs.bpf.c by bpf2go and
// committed (probe_bpfel.go, probe_bpfel.o), so building needs no clang.
// This is the one place the compiler is named: Debian's clang-16
// (apt-get install clang-16 libbpf-dev). bpf/vmlinux.h is hand-trimmed to
// the fields the programs read; CO-RE relocates them against the running
// kernel's BTF at load time.
//
//go:generate go tool bpf2go -cc clang-16 -cflags "-O2 -g -Wall -Werror" -target bpfel -type dev_rec -type cache_slot -type stats probe bpf/attrs.bpf.c -- -I./bpf
