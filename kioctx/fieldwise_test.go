package kioctx

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// TestFieldwiseCopies guards the hot path's field-by-field copies
// (setIocb, and the lcb and t assignments in submitLocked): a field added
// to one of these structs must be added there too, or it would be left
// stale from the slot's previous iocb.
func TestFieldwiseCopies(t *testing.T) {
	var src abi.Iocb
	v := reflect.ValueOf(&src).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Uint16, reflect.Uint32, reflect.Uint64:
			f.SetUint(uint64(0x100 + i))
		case reflect.Int32, reflect.Int64:
			f.SetInt(int64(0x100 + i))
		default:
			t.Fatalf("abi.Iocb.%s: kind %s not handled by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	var dst abi.Iocb
	setIocb(&dst, &src)
	require.Equal(t, src, dst, "setIocb must copy every field of abi.Iocb")

	// submitLocked assigns these structs' fields one by one.
	require.Equal(t, 12, reflect.TypeOf(abi.LegacyIocb{}).NumField(), "abi.LegacyIocb changed: update submitLocked's lcb assignments")
	require.Equal(t, 8, reflect.TypeOf(attrs.Target{}).NumField(), "attrs.Target changed: update submitLocked's t assignments")
}
