package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
	"github.com/aio2/aio2/kioctx"
)

// feature is one line of "aio2 features".
type feature struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// tracepoints are the ones package attrs attaches to, probed one by one.
var tracepoints = []string{"block_rq_issue", "block_rq_complete", "mm_filemap_add_to_page_cache", "mm_filemap_get_pages"}

func cmdFeatures(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("features", "features [--directory=DIR] [--output-format=normal|json]")
	dir := fs.String("directory", os.TempDir(), "directory whose O_DIRECT support and alignment to check")
	format := fs.String("output-format", "normal", "normal or json")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("features: unexpected argument %q", fs.Arg(0))
	}
	if *format != "normal" && *format != "json" {
		return usagef("--output-format=%s: use normal or json", *format)
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		return usagef("--directory=%s is not a directory", *dir)
	}
	var fl []feature
	add := func(name string, ok bool, format string, a ...any) {
		fl = append(fl, feature{Name: name, OK: ok, Detail: fmt.Sprintf(format, a...)})
	}
	var uts unix.Utsname
	kv := kernelVersion{}
	if unix.Uname(&uts) == nil {
		rel := unix.ByteSliceToString(uts.Release[:])
		kv = parseKernelVersion(rel)
		add("kernel", true, "%s %s", unix.ByteSliceToString(uts.Sysname[:]), rel)
	}
	probeAIO(add)
	probeDirect(*dir, add)
	probeMemfd(add)
	probeContext(add)
	eff, capErr := effectiveCaps()
	if capErr != nil {
		add("capabilities", false, "%v", capErr)
	} else {
		for _, f := range capFeatures(eff, kv) {
			add(f.Name, f.OK, "%s", f.Detail)
		}
	}
	probeMemlock(add, eff, capErr == nil, kv)
	probeBTF(add)
	if err := attrs.CheckTSC(); err != nil {
		add("TSC clock (aio2 io --clocksource=cpu, LATENCY)", false, "%s: slat, clat, lat and LATENCY use clock_gettime", tscWhy(err))
	} else {
		add("TSC clock (aio2 io --clocksource=cpu, LATENCY)", true, "invariant, and the kernel's clocksource; scaled to CLOCK_MONOTONIC's rate by a 20 ms calibration")
	}
	// As package attrs does before it loads anything: where the kernel
	// still charges eBPF memory to RLIMIT_MEMLOCK (before 5.11), lift it;
	// elsewhere this changes nothing.
	_ = rlimit.RemoveMemlock()
	for _, tp := range tracepoints {
		probeTracepoint(tp, add, kv)
	}
	for _, f := range attrs.Probe() {
		var ids []string
		for id := uint16(1); id < 64; id++ {
			if f.Attrs.Has(id) {
				ids = append(ids, abi.AttrName(id))
			}
		}
		detail := f.Detail
		if !f.OK {
			detail = bpfErrText(f.Err, kv)
		}
		add("attrs "+f.Name, f.OK, "%s: %s", strings.Join(ids, ","), detail)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(fl)
	}
	writeFeatures(stdout, fl)
	return nil
}

// writeFeatures prints one line per feature: name, ok or NO, detail, the
// names padded to the longest so that the columns line up.
func writeFeatures(w io.Writer, fl []feature) {
	width := 0
	for _, f := range fl {
		width = max(width, len([]rune(f.Name)))
	}
	for _, f := range fl {
		st := "ok"
		if !f.OK {
			st = "NO"
		}
		fmt.Fprintf(w, "%-*s %-3s %s\n", width, f.Name, st, f.Detail)
	}
}

type addFunc func(name string, ok bool, format string, a ...any)

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// probeAIO makes and destroys a native AIO context and reports how many
// io_event slots remain under fs.aio-max-nr.
func probeAIO(add addFunc) {
	var ctx uintptr
	_, _, e := unix.Syscall(unix.SYS_IO_SETUP, 1, ctxAddr(&ctx), 0)
	if e != 0 {
		hint := ""
		switch e {
		case unix.EAGAIN:
			hint = " (fs.aio-max-nr is exhausted: raise /proc/sys/fs/aio-max-nr)"
		case unix.ENOSYS:
			hint = " (the kernel is built without CONFIG_AIO, or a seccomp filter refuses io_setup: aio2 io needs native AIO)"
		case unix.EPERM:
			hint = " (a seccomp filter refuses io_setup: aio2 io needs native AIO)"
		}
		add("native AIO (io_setup)", false, "io_setup: %v%s", e, hint)
	} else {
		unix.Syscall(unix.SYS_IO_DESTROY, ctx, 0, 0)
		add("native AIO (io_setup)", true, "io_setup and io_destroy work")
	}
	nr, err1 := readInt("/proc/sys/fs/aio-nr")
	maxNr, err2 := readInt("/proc/sys/fs/aio-max-nr")
	if err1 != nil || err2 != nil {
		add("aio-max-nr headroom", false, "cannot read /proc/sys/fs/aio-nr or aio-max-nr: %v", errors.Join(err1, err2))
		return
	}
	ok, detail := aioHeadroom(nr, maxNr)
	add("aio-max-nr headroom", ok, "%s", detail)
}

// aioHeadroom says how many contexts fit in what fs.aio-max-nr leaves.
// The kernel adds to fs.aio-nr exactly the nr_events given to io_setup
// (fs/aio.c, ioctx_alloc: ctx->max_reqs, since Linux 4.12), and a context
// of max_inflight N asks for N+1 (one more for its poke). It is ok when a
// context of kioctx's default max_inflight fits.
func aioHeadroom(nr, maxNr int64) (bool, string) {
	left := max(maxNr-nr, 0)
	def, most := int64(kioctx.DefaultMaxInflight), int64(kioctx.MaxMaxInflight)
	const ioDepth = 32 // aio2 io's default --iodepth, and so max_inflight
	detail := fmt.Sprintf("aio-nr %d of aio-max-nr %d: %d io_events left; a context takes max_inflight+1 of them: room for %d of max_inflight %d (kioctx's default), %d of %d (aio2 io's default), %d of %d (the most)",
		nr, maxNr, left, left/(def+1), def, left/(ioDepth+1), ioDepth, left/(most+1), most)
	ok := left >= def+1
	if !ok {
		detail += "; raise fs.aio-max-nr (sysctl -w fs.aio-max-nr=N) or use a smaller --iodepth and --max-inflight"
	}
	return ok, detail
}

// probeDirect checks O_DIRECT on dir: open, the alignment statx reports,
// and one aligned write and read.
func probeDirect(dir string, add addFunc) {
	name := "O_DIRECT on " + dir
	f, err := os.CreateTemp(dir, "aio2-features-*")
	if err != nil {
		add(name, false, "cannot create a file there: %v", unwrapPath(err))
		return
	}
	path := f.Name()
	f.Close()
	defer os.Remove(path)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		add(name, false, "open with O_DIRECT: %v (the file system does not support it: use --directory on another one)", err)
		return
	}
	defer unix.Close(fd)
	// What aio2 io assumes where statx reports nothing (target.go).
	mem, off := uint32(4096), uint32(4096)
	how := "statx(STATX_DIOALIGN)"
	if al, err := kioctx.DIOAlign(fd); err == nil {
		mem, off = al.Mem, al.Offset
	} else {
		how = "statx reports none here (no STATX_DIOALIGN); aio2 io assumes 4096"
	}
	n := int(max(off, 512))
	buf, err := kioctx.AlignedBuf(max(n, 4096))
	if err != nil {
		add(name, false, "buffer: %v", err)
		return
	}
	defer kioctx.FreeBuf(buf)
	if _, err := unix.Pwrite(fd, buf[:n], 0); err != nil {
		add(name, false, "aligned O_DIRECT write of %d bytes: %v", n, err)
		return
	}
	if _, err := unix.Pread(fd, buf[:n], 0); err != nil {
		add(name, false, "aligned O_DIRECT read of %d bytes: %v", n, err)
		return
	}
	add(name, true, "memory alignment %d, offset/length alignment %d (%s); an aligned write and read of %d bytes work; aio2 io --directory=%s needs --bs in multiples of %d",
		mem, off, how, n, dir, off)
}

// probeMemfd checks what SETUP_SHARED needs: a memfd with the three seals.
func probeMemfd(add addFunc) {
	fd, err := unix.MemfdCreate("aio2-features", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		add("sealed memfd (SETUP_SHARED)", false, "memfd_create: %v", err)
		return
	}
	defer unix.Close(fd)
	if err := unix.Ftruncate(fd, 8192); err != nil {
		add("sealed memfd (SETUP_SHARED)", false, "ftruncate: %v", err)
		return
	}
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		add("sealed memfd (SETUP_SHARED)", false, "F_ADD_SEALS: %v", err)
		return
	}
	add("sealed memfd (SETUP_SHARED)", true, "memfd_create with F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_SEAL works")
}

// probeContext sets up an io_setup2 context and reports what it granted.
func probeContext(add addFunc) {
	p := abi.Params{Size: abi.ParamsSize, Version: abi.Version2, Eventfd: -1}
	c, err := kioctx.Setup(&p, kioctx.WithEngine(attrs.Default()))
	if err != nil {
		add("io_setup2 context (kioctx)", false, "%v", err)
		return
	}
	c.Destroy()
	add("io_setup2 context (kioctx)", true, "version %d, ring_bytes %d, max_event_bytes %d, max_inflight %d, features %s, attrs %s",
		p.Version, p.RingBytes, p.MaxEventBytes, p.MaxInflight, strings.Join(featureNames(p.Features), ","), strings.Join(maskNames(p.Attrs), ","))
}

// kernelVersion is the major and minor number of the running kernel; zero
// when unknown.
type kernelVersion struct{ major, minor int }

func parseKernelVersion(release string) kernelVersion {
	var v kernelVersion
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return v
	}
	v.major, _ = strconv.Atoi(parts[0])
	minor := parts[1]
	if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
		minor = minor[:i]
	}
	v.minor, _ = strconv.Atoi(minor)
	return v
}

func (v kernelVersion) known() bool { return v.major > 0 }

func (v kernelVersion) atLeast(major, minor int) bool {
	return v.major > major || v.major == major && v.minor >= minor
}

// memlockCharged reports whether the kernel charges eBPF memory to
// RLIMIT_MEMLOCK: before 5.11 (since, to the memory cgroup). Unknown
// kernels count as charging.
func (v kernelVersion) memlockCharged() bool { return !v.known() || !v.atLeast(5, 11) }

// Capability bits (include/uapi/linux/capability.h).
const (
	capIPCLock     = 14
	capSysAdmin    = 21
	capSysResource = 24
	capPerfmon     = 38
	capBPF         = 39
)

func effectiveCaps() (uint64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("cannot read /proc/self/status: %v", unwrapPath(err))
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			eff, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/status: CapEff: %v", err)
			}
			return eff, nil
		}
	}
	return 0, errors.New("no CapEff line in /proc/self/status")
}

// bpfPrivileged reports whether eff lets this process load and attach
// tracing programs on kernel v: CAP_BPF and CAP_PERFMON (5.8 on), or
// CAP_SYS_ADMIN.
func bpfPrivileged(eff uint64, v kernelVersion) bool {
	return hasCap(eff, capSysAdmin) || v.atLeast(5, 8) && hasCap(eff, capBPF) && hasCap(eff, capPerfmon)
}

// hasCap reports whether capability bit is in the set eff.
func hasCap(eff uint64, bit uint) bool { return eff&(1<<bit) != 0 }

// capFeatures says, for each capability that matters to aio2, whether it
// is held and whether that matters here: a line is NO only when something
// aio2 does needs the capability and cannot do without it.
func capFeatures(eff uint64, v kernelVersion) []feature {
	has := func(bit uint) bool { return hasCap(eff, bit) }
	held := func(bit uint) string { return map[bool]string{true: "held", false: "not held"}[has(bit)] }
	priv := bpfPrivileged(eff, v)
	const noBPF = "; without it DEVICE comes back UNAVAILABLE and CACHE comes from cachestat(2) (run as root)"
	var fl []feature
	line := func(bit uint, name string, ok bool, detail string) {
		sep := ": "
		if strings.HasPrefix(detail, "not needed") {
			sep = "; "
		}
		fl = append(fl, feature{Name: "capability " + name, OK: ok, Detail: held(bit) + sep + detail})
	}
	newCaps := !v.known() || v.atLeast(5, 8)
	switch {
	case has(capSysAdmin):
		line(capSysAdmin, "CAP_SYS_ADMIN", true, "loads and attaches eBPF tracing programs (DEVICE, CACHE)")
	case priv:
		line(capSysAdmin, "CAP_SYS_ADMIN", true, "not needed: CAP_BPF and CAP_PERFMON stand in for it")
	case newCaps:
		line(capSysAdmin, "CAP_SYS_ADMIN", false, "needed for eBPF unless CAP_BPF and CAP_PERFMON are both held"+noBPF)
	default:
		line(capSysAdmin, "CAP_SYS_ADMIN", false, "needed for eBPF before Linux 5.8"+noBPF)
	}
	for _, c := range []struct {
		bit  uint
		name string
		what string
	}{{capBPF, "CAP_BPF", "loading eBPF programs and maps"}, {capPerfmon, "CAP_PERFMON", "attaching tracing programs (tp_btf, raw_tp)"}} {
		switch {
		case !newCaps:
			line(c.bit, c.name, true, "not needed: this kernel predates it (5.8); CAP_SYS_ADMIN is what counts")
		case has(c.bit) && priv:
			line(c.bit, c.name, true, c.what)
		case has(c.bit):
			line(c.bit, c.name, false, c.what+"; not enough alone: needs CAP_BPF and CAP_PERFMON both"+noBPF)
		case has(capSysAdmin):
			line(c.bit, c.name, true, "not needed: CAP_SYS_ADMIN stands in for it")
		default:
			line(c.bit, c.name, false, "needed for "+c.what+noBPF)
		}
	}
	// Nothing in aio2 locks memory: the rings and buffers are plain
	// mappings, and eBPF maps were charged to RLIMIT_MEMLOCK without
	// regard to CAP_IPC_LOCK.
	line(capIPCLock, "CAP_IPC_LOCK", true, "not needed: aio2 locks no memory")
	switch {
	case !v.memlockCharged():
		line(capSysResource, "CAP_SYS_RESOURCE", true, "not needed: this kernel (5.11 or later) charges eBPF maps to the memory cgroup, not RLIMIT_MEMLOCK")
	case has(capSysResource):
		line(capSysResource, "CAP_SYS_RESOURCE", true, "lets aio2 lift RLIMIT_MEMLOCK, to which this kernel charges eBPF maps")
	default:
		line(capSysResource, "CAP_SYS_RESOURCE", true, "needed only to lift RLIMIT_MEMLOCK above its hard limit (see RLIMIT_MEMLOCK)")
	}
	return fl
}

// probeMemlock reports RLIMIT_MEMLOCK and whether it can stop eBPF here.
func probeMemlock(add addFunc, eff uint64, effKnown bool, v kernelVersion) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &rl); err != nil {
		add("RLIMIT_MEMLOCK", false, "getrlimit: %v", err)
		return
	}
	ok, detail := memlockFeature(rl, eff, effKnown, v)
	add("RLIMIT_MEMLOCK", ok, "%s", detail)
}

// memlockNeed is RLIMIT_MEMLOCK enough for package attrs' maps: the
// device group's 4 MiB ring buffer and 1 MiB issue array, the cache
// group's 16 KiB, and the programs.
const memlockNeed = 8 << 20

func memlockFeature(rl unix.Rlimit, eff uint64, effKnown bool, v kernelVersion) (bool, string) {
	s := func(v uint64) string {
		if v == unix.RLIM_INFINITY {
			return "unlimited"
		}
		return humanBytes(float64(v))
	}
	lim := fmt.Sprintf("soft %s, hard %s", s(rl.Cur), s(rl.Max))
	switch {
	case !v.memlockCharged():
		return true, lim + ": not used for eBPF here (since Linux 5.11 eBPF maps are charged to the memory cgroup)"
	case rl.Cur == unix.RLIM_INFINITY:
		return true, lim + ": eBPF maps are charged to it on this kernel, and it is unlimited"
	case rl.Max == unix.RLIM_INFINITY, effKnown && eff&(1<<capSysResource) != 0:
		return true, lim + ": eBPF maps are charged to it on this kernel; aio2 lifts it to unlimited before loading"
	case rl.Cur >= memlockNeed:
		return true, lim + ": eBPF maps are charged to it on this kernel; package attrs' maps take about 5 MiB"
	default:
		return false, lim + ": eBPF maps are charged to it on this kernel, package attrs' take about 5 MiB, and it cannot be lifted without CAP_SYS_RESOURCE (ulimit -l 8192, or run as root)"
	}
}

func probeBTF(add addFunc) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		add("kernel BTF", false, "/sys/kernel/btf/vmlinux: %v (tp_btf programs need it; raw_tp is the fallback)", unwrapPath(err))
		return
	}
	add("kernel BTF", true, "/sys/kernel/btf/vmlinux")
}

// probeTPBTF is false in tests that check the raw_tp fallback.
var probeTPBTF = true

// probeTracepoint loads a two-instruction program for tp and attaches it,
// as package attrs does: tp_btf first, raw_tp if that fails.
func probeTracepoint(tp string, add addFunc, v kernelVersion) {
	name := "tracepoint " + tp
	var errTP error
	if probeTPBTF {
		if errTP = attachTPBTF(tp); errTP == nil {
			add(name, true, "tp_btf loads and attaches")
			return
		}
	} else {
		errTP = errors.New("not tried")
	}
	errRaw := attachRawTP(tp)
	if errRaw == nil {
		add(name, true, "raw_tp loads and attaches (tp_btf: %s)", bpfErrText(errTP, v))
		return
	}
	why := ""
	if errors.Is(errTP, unix.EPERM) || errors.Is(errRaw, unix.EPERM) || errors.Is(errTP, unix.EACCES) || errors.Is(errRaw, unix.EACCES) {
		why = "; needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN (run as root)"
		if v.memlockCharged() {
			why += ", and enough RLIMIT_MEMLOCK"
		}
	}
	add(name, false, "tp_btf: %s; raw_tp: %s%s", bpfErrText(errTP, v), bpfErrText(errRaw, v), why)
}

func attachTPBTF(tp string) error {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return fmt.Errorf("kernel BTF: %w", err)
	}
	var td *btf.Typedef
	if err := spec.TypeByName("btf_trace_"+tp, &td); err != nil {
		return fmt.Errorf("not in this kernel's BTF: %w", err)
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Name:         "aio2_probe",
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     tp,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	}, ebpf.ProgramOptions{KernelTypes: spec})
	if err != nil {
		return err // "load program: ..."
	}
	defer prog.Close()
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return l.Close()
}

func attachRawTP(tp string) error {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "aio2_probe",
		Type:         ebpf.RawTracepoint,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		return err // "load program: ..."
	}
	defer prog.Close()
	l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: tp, Program: prog})
	if err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return l.Close()
}

// memlockHint is what cilium/ebpf appends to every EPERM; since Linux
// 5.11 RLIMIT_MEMLOCK is never the cause, and the RLIMIT_MEMLOCK line says
// so, so it is dropped there.
const memlockHint = " (MEMLOCK may be too low, consider rlimit.RemoveMemlock)"

func bpfErrText(err error, v kernelVersion) string {
	s := fmt.Sprint(err)
	if !v.memlockCharged() {
		s = strings.ReplaceAll(s, memlockHint, "")
	}
	return s
}
