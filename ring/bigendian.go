//go:build armbe || arm64be || m68k || mips || mips64 || mips64p32 || ppc || ppc64 || s390 || s390x || shbe || sparc || sparc64

package ring

// The header fields a ring shares (head, tail, flags, user_flags,
// overflowed) are little-endian on the wire, and Region reads and writes
// them as native atomic integers (region.go): on a big-endian host every
// one of them would be byte-swapped for the other side. Rather than build
// a package that would run wrong there, this file, built only on
// big-endian architectures, fails the build with the name below.
var _ = ringNeedsALittleEndianHost
