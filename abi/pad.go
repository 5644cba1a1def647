package abi

// Pad8 rounds n up to a multiple of 8 ("pad8(n)" in the spec).
func Pad8(n int) int { return (n + 7) &^ 7 }

// Pad8u32 is Pad8 for uint32 lengths read from the wire. It saturates
// rather than wrapping so that a hostile length cannot become small.
func Pad8u32(n uint32) uint32 {
	if n > 0xFFFFFFF8 {
		return 0xFFFFFFF8
	}
	return (n + 7) &^ 7
}
