package abi_test

import (
	"os"
	"testing"
)

// skipOrFail skips a test whose tool (gcc) is missing, or fails it when
// AIO2_REQUIRE_TOOLS=1: CI sets that, so a missing gcc there is an error,
// not a silently smaller test run.
func skipOrFail(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("AIO2_REQUIRE_TOOLS") == "1" {
		t.Fatalf(format+" (AIO2_REQUIRE_TOOLS=1)", args...)
	}
	t.Skipf(format, args...)
}
