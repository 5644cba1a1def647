package abi_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aio2/aio2/abi"
)

// cStruct maps a Go struct of package abi to its C twin in aio2_abi.h,
// field by field. Every exported Go field must have an entry, so a field
// added on one side only fails the test.
type cStruct struct {
	goType reflect.Type
	cName  string
	fields map[string]string // Go field -> C field
}

var cStructs = []cStruct{
	{reflect.TypeFor[abi.Params](), "struct aio2_params", map[string]string{
		"Size": "size", "Version": "version", "Flags": "flags", "RingBytes": "ring_bytes",
		"MaxEventBytes": "max_event_bytes", "Eventfd": "eventfd", "MaxInflight": "max_inflight",
		"Reserved": "reserved", "Features": "features", "Attrs": "attrs", "Reserved2": "reserved2",
	}},
	{reflect.TypeFor[abi.RingHeader](), "struct aio2_ring_hdr", map[string]string{
		"Magic": "magic", "Version": "version", "HeaderBytes": "header_bytes", "RingBytes": "ring_bytes",
		"RingMask": "ring_mask", "MaxEventBytes": "max_event_bytes", "CompatFeatures": "compat_features",
		"IncompatFeatures": "incompat_features", "Flags": "flags", "UserFlags": "user_flags",
		"Overflowed": "overflowed", "Head": "head", "Tail": "tail",
	}},
	{reflect.TypeFor[abi.RecordHeader](), "struct aio2_rec_hdr", map[string]string{
		"Len": "len", "Type": "type", "Flags": "flags",
	}},
	{reflect.TypeFor[abi.Iocb](), "struct aio2_iocb", map[string]string{
		"Len": "len", "Opcode": "opcode", "Flags": "flags", "Data": "data", "Key": "key", "Fd": "fd",
		"RWFlags": "rw_flags", "Addr": "addr", "Nbytes": "nbytes", "Offset": "offset", "Arg": "arg",
	}},
	{reflect.TypeFor[abi.LegacyIocb](), "struct aio2_legacy_iocb", map[string]string{
		"Data": "aio_data", "Key": "aio_key", "RWFlags": "aio_rw_flags", "Opcode": "aio_lio_opcode",
		"Reqprio": "aio_reqprio", "Fildes": "aio_fildes", "Buf": "aio_buf", "Nbytes": "aio_nbytes",
		"Offset": "aio_offset", "Reserved2": "aio_reserved2", "Flags": "aio_flags", "Resfd": "aio_resfd",
	}},
	{reflect.TypeFor[abi.IoEvent](), "struct aio2_io_event", map[string]string{
		"Data": "data", "Obj": "obj", "Res": "res", "Res2": "res2",
	}},
	{reflect.TypeFor[abi.AioRing](), "struct aio2_aio_ring", map[string]string{
		"ID": "id", "Nr": "nr", "Head": "head", "Tail": "tail", "Magic": "magic",
		"CompatFeatures": "compat_features", "IncompatFeatures": "incompat_features",
		"HeaderLength": "header_length",
	}},
}

// cCheck is one C expression and the value the Go side says it has.
type cCheck struct {
	expr string
	want uint64
}

func layoutChecks(t *testing.T) []cCheck {
	var checks []cCheck
	for _, s := range cStructs {
		checks = append(checks, cCheck{"sizeof(" + s.cName + ")", uint64(s.goType.Size())})
		seen := 0
		for i := range s.goType.NumField() {
			f := s.goType.Field(i)
			if f.Name == "_" {
				continue
			}
			c, ok := s.fields[f.Name]
			if !assert.True(t, ok, "%s.%s has no C field in the table", s.goType.Name(), f.Name) {
				continue
			}
			seen++
			checks = append(checks,
				cCheck{fmt.Sprintf("offsetof(%s, %s)", s.cName, c), uint64(f.Offset)},
				cCheck{fmt.Sprintf("sizeof(((%s *)0)->%s)", s.cName, c), uint64(f.Type.Size())},
				// Signedness: (type)-1 < 0 in C iff the Go field is signed.
				cCheck{fmt.Sprintf("(__typeof__(((%s *)0)->%s%s))-1 < 0", s.cName, c, elem(f.Type)), b2u(isSigned(f.Type))})
		}
		assert.Equal(t, len(s.fields), seen, "%s: table names fields Go does not have", s.goType.Name())
	}
	// The EVENT record: Go has no struct for its fixed part, only offsets
	// (the decoder reads them), so check the C struct against the legacy
	// io_event embedded in it.
	var io abi.IoEvent
	checks = append(checks,
		cCheck{"sizeof(struct aio2_event)", abi.EventHeaderBytes},
		cCheck{"offsetof(struct aio2_event, data)", 8 + uint64(reflect.TypeOf(io).Field(0).Offset)},
		cCheck{"offsetof(struct aio2_event, obj)", 8 + uint64(reflect.TypeOf(io).Field(1).Offset)},
		cCheck{"offsetof(struct aio2_event, res)", 8 + uint64(reflect.TypeOf(io).Field(2).Offset)},
		cCheck{"offsetof(struct aio2_event, res2)", 8 + uint64(reflect.TypeOf(io).Field(3).Offset)},
		cCheck{"sizeof(struct aio2_attr_hdr)", abi.AttrHeaderBytes},
		cCheck{"offsetof(struct aio2_attr_hdr, id)", 0},
		cCheck{"offsetof(struct aio2_attr_hdr, status)", 2},
		cCheck{"offsetof(struct aio2_attr_hdr, len)", 4},
		// The legacy mirrors against the kernel's own uapi header.
		cCheck{"sizeof(struct iocb)", abi.LegacyIocbBytes},
		cCheck{"offsetof(struct iocb, aio_rw_flags)", 12},
		cCheck{"offsetof(struct iocb, aio_lio_opcode)", 16},
		cCheck{"offsetof(struct iocb, aio_fildes)", 20},
		cCheck{"offsetof(struct iocb, aio_reserved2)", 48},
		cCheck{"offsetof(struct iocb, aio_resfd)", 60},
		cCheck{"sizeof(struct io_event)", abi.IoEventBytes},
		cCheck{"IOCB_CMD_PREAD", abi.IOCB_CMD_PREAD},
		cCheck{"IOCB_CMD_PWRITEV", abi.IOCB_CMD_PWRITEV},
		cCheck{"IOCB_CMD_POLL", abi.IOCB_CMD_POLL},
		cCheck{"IOCB_FLAG_RESFD", abi.IOCB_FLAG_RESFD},
		cCheck{"IOCB_FLAG_IOPRIO", abi.IOCB_FLAG_IOPRIO},
	)
	return checks
}

// elem is the C suffix that names an array field's first element.
func elem(t reflect.Type) string {
	if t.Kind() == reflect.Array {
		return "[0]"
	}
	return ""
}

func isSigned(t reflect.Type) bool {
	for t.Kind() == reflect.Array {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Int:
		return true
	}
	return false
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// constChecks pairs every constant of aio2_abi.h with its Go twin.
var constChecks = []cCheck{
	{"AIO2_VERSION_LEGACY", abi.VersionLegacy}, {"AIO2_VERSION_2", abi.Version2},
	{"AIO2_SETUP_NO_RING", abi.SetupNoRing}, {"AIO2_SETUP_SHARED", abi.SetupShared}, {"AIO2_SETUP_KNOWN", abi.SetupKnown},
	{"AIO2_FEAT_NO_DROP", abi.FeatNoDrop}, {"AIO2_FEAT_ATTRS", abi.FeatAttrs}, {"AIO2_FEAT_SYSCALL", abi.FeatSyscall},
	{"AIO2_FEAT_POLL", abi.FeatPoll}, {"AIO2_FEAT_SHARED", abi.FeatShared}, {"AIO2_FEAT_CAS_REAP", abi.FeatCASReap},
	{"AIO2_FEAT_ISSUE_SYNC", abi.FeatIssueSync},
	{"AIO2_PARAMS_SIZE", abi.ParamsSize}, {"AIO2_MIN_RING_BYTES", abi.MinRingBytes}, {"AIO2_MAX_RING_BYTES", abi.MaxRingBytes},
	{"AIO2_DEFAULT_MAX_EVENT_BYTES", abi.DefaultMaxEventBytes}, {"AIO2_MIN_EVENT_BYTES", abi.MinEventBytes},
	{"AIO2_RING_MAGIC", abi.RingMagic}, {"AIO2_HEADER_BYTES", abi.HeaderBytes},
	{"AIO2_F_OVERFLOW", abi.FOverflow}, {"AIO2_F_DEAD", abi.FDead}, {"AIO2_UF_NO_EVENTFD", abi.UFNoEventfd},
	{"AIO2_KNOWN_COMPAT_FEATURES", abi.KnownCompatFeatures}, {"AIO2_KNOWN_INCOMPAT_FEATURES", abi.KnownIncompatFeatures},
	{"AIO2_RING_HDR_SIZE", abi.RingHeaderSize},
	{"AIO2_OFF_MAGIC", abi.OffMagic}, {"AIO2_OFF_VERSION", abi.OffVersion}, {"AIO2_OFF_HEADER_BYTES", abi.OffHeaderBytes},
	{"AIO2_OFF_RING_BYTES", abi.OffRingBytes}, {"AIO2_OFF_RING_MASK", abi.OffRingMask},
	{"AIO2_OFF_MAX_EVENT_BYTES", abi.OffMaxEventBytes}, {"AIO2_OFF_COMPAT_FEATURES", abi.OffCompatFeatures},
	{"AIO2_OFF_INCOMPAT_FEATURES", abi.OffIncompatFeatures}, {"AIO2_OFF_FLAGS", abi.OffFlags},
	{"AIO2_OFF_USER_FLAGS", abi.OffUserFlags}, {"AIO2_OFF_OVERFLOWED", abi.OffOverflowed},
	{"AIO2_OFF_HEAD", abi.OffHead}, {"AIO2_OFF_TAIL", abi.OffTail},
	{"AIO2_REC_PAD", abi.RecPad}, {"AIO2_REC_EVENT", abi.RecEvent}, {"AIO2_EVENT_ATTRS_TRUNCATED", abi.EventAttrsTruncated},
	{"AIO2_RECORD_HEADER_BYTES", abi.RecordHeaderBytes}, {"AIO2_EVENT_HEADER_BYTES", abi.EventHeaderBytes},
	{"AIO2_ATTR_LATENCY", abi.AttrLatency}, {"AIO2_ATTR_TIMESTAMPS", abi.AttrTimestamps}, {"AIO2_ATTR_CACHE", abi.AttrCache},
	{"AIO2_ATTR_DEVICE", abi.AttrDevice}, {"AIO2_ATTR_CPU", abi.AttrCPU}, {"AIO2_ATTR_TAG", abi.AttrTag},
	{"AIO2_ATTR_MAX_CATALOGUE", abi.AttrMaxCatalogue}, {"AIO2_ATTR_FIRST_EXPERIMENTAL", abi.AttrFirstExperimental},
	{"AIO2_MAX_TAG_BYTES", abi.MaxTagBytes},
	{"AIO2_ATTR_OK", abi.AttrOK}, {"AIO2_ATTR_UNSUPPORTED", abi.AttrUnsupported}, {"AIO2_ATTR_UNAVAILABLE", abi.AttrUnavailable},
	{"AIO2_ATTR_ERROR", abi.AttrError}, {"AIO2_ATTR_HEADER_BYTES", abi.AttrHeaderBytes},
	{"AIO2_OP_PREAD", abi.OpPread}, {"AIO2_OP_PWRITE", abi.OpPwrite}, {"AIO2_OP_FSYNC", abi.OpFsync},
	{"AIO2_OP_FDSYNC", abi.OpFdsync}, {"AIO2_OP_POLL", abi.OpPoll}, {"AIO2_OP_NOOP", abi.OpNoop},
	{"AIO2_OP_PREADV", abi.OpPreadv}, {"AIO2_OP_PWRITEV", abi.OpPwritev}, {"AIO2_OP_SYSCALL", abi.OpSyscall},
	{"AIO2_IOCB_F_REQUIRE_ATTRS", abi.IocbRequireAttrs}, {"AIO2_IOCB_HEADER_BYTES", abi.IocbHeaderBytes},
	{"AIO2_OFF_IOCB_KEY", abi.OffIocbKey},
	{"AIO2_AIO_RING_MAGIC", abi.AIO_RING_MAGIC}, {"AIO2_AIO_RING_COMPAT_FEATURES", abi.AIO_RING_COMPAT_FEATURES},
	{"AIO2_AIO_RING_INCOMPAT_FEATURES", abi.AIO_RING_INCOMPAT_FEATURES}, {"AIO2_AIO_RING_HEADER_BYTES", abi.AioRingHeaderBytes},
	{"AIO2_IO_EVENT_BYTES", abi.IoEventBytes}, {"AIO2_LEGACY_IOCB_BYTES", abi.LegacyIocbBytes},
	{"AIO2_IOCB_FLAG_RESFD", abi.IOCB_FLAG_RESFD}, {"AIO2_IOCB_FLAG_IOPRIO", abi.IOCB_FLAG_IOPRIO},
}

// helperChecks exercises the header's inline layout helpers.
var helperChecks = []cCheck{
	{"aio2_pad8(0)", 0}, {"aio2_pad8(1)", 8}, {"aio2_pad8(8)", 8}, {"aio2_pad8(13)", uint64(abi.Pad8(13))},
	{"aio2_region_bytes(1u << 30)", uint64(abi.RegionBytes(1 << 30))},
	{"aio2_ring_pos(0xfffffff8u, 4095u)", 0xff8},
	{"aio2_attr_bytes(12)", uint64(abi.AttrBytes(12))}, {"aio2_attr_bytes(0)", uint64(abi.AttrBytes(0))},
	{"aio2_attr_bytes(0xffffffffu)", 8 + 0x100000000},
	{"(uint64_t)(aio2_ring_data(region) - (uint8_t *)region)", abi.HeaderBytes},
	{"(uint64_t)((uint8_t *)&aio2_ring_hdr(region)->tail - (uint8_t *)region)", abi.OffTail},
	{"(uint64_t)(aio2_event_attrs(region) - (uint8_t *)region)", abi.EventHeaderBytes},
	{"(uint64_t)(aio2_iocb_attrs(region) - (uint8_t *)region)", abi.IocbHeaderBytes},
	{"(uint64_t)(aio2_attr_value(region) - (uint8_t *)region)", abi.AttrHeaderBytes},
	{"(uint64_t)((uint8_t *)aio2_aio_ring_events(region) - (uint8_t *)region)", abi.AioRingHeaderBytes},
}

// TestCHeaderMatchesGo compiles a C program against aio2_abi.h (with the
// kernel's <linux/aio_abi.h> beside it, which must not clash) as GNU C99
// and as C11, runs it, and compares every size, offset, signedness and
// constant it prints with package abi; then checks that the header alone
// compiles as strict C99 and as C++11.
func TestCHeaderMatchesGo(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		skipOrFail(t, "gcc not found: %v", err)
	}
	hdr, err := filepath.Abs("aio2_abi.h")
	require.NoError(t, err)

	var checks []cCheck
	checks = append(checks, layoutChecks(t)...)
	checks = append(checks, constChecks...)
	checks = append(checks, helperChecks...)

	var src bytes.Buffer
	fmt.Fprintf(&src, "#include %q\n#include <linux/aio_abi.h>\n#include <stdio.h>\n\n", hdr)
	src.WriteString("static unsigned char region[8192] __attribute__((aligned(8)));\n\nint main(void)\n{\n")
	for i, c := range checks {
		fmt.Fprintf(&src, "\tprintf(\"%d %%llu\\n\", (unsigned long long)(%s));\n", i, c.expr)
	}
	src.WriteString("\treturn 0;\n}\n")

	dir := t.TempDir()
	cfile := filepath.Join(dir, "layout.c")
	require.NoError(t, os.WriteFile(cfile, src.Bytes(), 0o644))

	for _, std := range []string{"-std=gnu99", "-std=c11"} {
		t.Run(std, func(t *testing.T) {
			bin := filepath.Join(dir, "layout"+std)
			// -Wno-type-limits: the signedness probes compare unsigned
			// values with 0 on purpose.
			args := []string{std, "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wno-type-limits", "-o", bin, cfile}
			out, err := exec.Command(gcc, args...).CombinedOutput()
			require.NoError(t, err, "gcc %s:\n%s", strings.Join(args, " "), out)
			out, err = exec.Command(bin).Output()
			require.NoError(t, err)

			got := map[int]uint64{}
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				var i int
				var v uint64
				_, err := fmt.Sscanf(sc.Text(), "%d %d", &i, &v)
				require.NoError(t, err, "line %q", sc.Text())
				got[i] = v
			}
			require.Len(t, got, len(checks))
			for i, c := range checks {
				assert.Equal(t, c.want, got[i], "C %s = %d, Go says %d", c.expr, got[i], c.want)
			}
		})
	}

	// The header is also valid C99 without GNU extensions and C++11, with
	// the kernel's header beside it.
	tiny := filepath.Join(dir, "tiny.c")
	require.NoError(t, os.WriteFile(tiny, fmt.Appendf(nil,
		"#include %q\n#include <linux/aio_abi.h>\nint main(void) { return (int)aio2_pad8(0); }\n", hdr), 0o644))
	for _, args := range [][]string{
		{"-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", tiny},
		{"-x", "c++", "-std=c++11", "-pedantic", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", tiny},
	} {
		out, err := exec.Command(gcc, args...).CombinedOutput()
		assert.NoError(t, err, "gcc %s:\n%s", strings.Join(args, " "), out)
	}
}

// TestCHeaderStaticAssertsFire makes sure the header's compile-time checks
// are live: a program that breaks one of the same asserts must not compile.
func TestCHeaderStaticAssertsFire(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		skipOrFail(t, "gcc not found: %v", err)
	}
	hdr, err := filepath.Abs("aio2_abi.h")
	require.NoError(t, err)
	dir := t.TempDir()
	for _, std := range []string{"-std=c99", "-std=c11"} {
		src := fmt.Sprintf("#include %q\nAIO2_STATIC_ASSERT(sizeof(struct aio2_iocb) == %s, wrong);\nint main(void) { return 0; }\n",
			hdr, strconv.Itoa(abi.IocbHeaderBytes+8))
		cfile := filepath.Join(dir, "bad.c")
		require.NoError(t, os.WriteFile(cfile, []byte(src), 0o644))
		out, err := exec.Command(gcc, std, "-o", filepath.Join(dir, "bad"), cfile).CombinedOutput()
		assert.Error(t, err, "%s: a false static assert compiled:\n%s", std, out)
	}
}

// TestCHeaderConstantsCovered makes sure every constant the header defines
// is in constChecks, so none escapes the comparison with Go.
func TestCHeaderConstantsCovered(t *testing.T) {
	src, err := os.ReadFile("aio2_abi.h")
	require.NoError(t, err)
	checked := map[string]bool{}
	for _, c := range constChecks {
		checked[c.expr] = true
	}
	n := 0
	for _, m := range regexp.MustCompile(`(?m)^#define (AIO2_[A-Z0-9_]+)[ \t]`).FindAllSubmatch(src, -1) {
		name := string(m[1])
		if name == "AIO2_STATIC_ASSERT" {
			continue
		}
		n++
		assert.True(t, checked[name], "%s is not compared with Go", name)
	}
	assert.Equal(t, len(constChecks), n, "constChecks names constants the header lacks")
}
