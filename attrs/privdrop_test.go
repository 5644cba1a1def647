package attrs

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

const childEnv = "AIO2_ATTRS_PRIVDROP_CHILD"

// TestPrivDrop re-runs this test binary as uid 65534 (nobody), with no
// capabilities, and checks there (TestPrivDropChild) that the eBPF
// attributes come back UNAVAILABLE, that Probe says why, and that the IO
// itself succeeds.
func TestPrivDrop(t *testing.T) {
	if os.Getuid() != 0 {
		requirePriv(t, "dropping privilege needs root (uid %d)", os.Getuid())
	}
	// Everything the child touches must be reachable by nobody: the test
	// binary (go test builds it in a 0700 directory) and the data files.
	dir, err := os.MkdirTemp(tempDir(t), "privdrop")
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; d != filepath.Clean(os.TempDir()) && d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o005 != 0o005 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "attrs.test")
	copyFile(t, self, bin, 0o755)
	data := makeFile(t, dir, 1<<20)
	// cachestat(2) serves a file its caller owns or may write (mm/filemap.c,
	// can_do_cachestat); owned by nobody, the child's CACHE fallback has
	// no reason to be refused.
	if err := os.Chown(data, 65534, 65534); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-test.run=^TestPrivDropChild$", "-test.v", "-test.count=1")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AIO2_REQUIRE_PRIV=") && !strings.HasPrefix(kv, childEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, childEnv+"="+data, "TMPDIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("child output:\n%s", out)
	if err != nil {
		t.Fatalf("child: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestPrivDropChild") {
		t.Fatal("child did not run TestPrivDropChild")
	}
}

// TestPrivDropChild runs only as TestPrivDrop's unprivileged child.
func TestPrivDropChild(t *testing.T) {
	data := os.Getenv(childEnv)
	if data == "" {
		t.Skip("runs only as the child of TestPrivDrop")
	}
	status, _ := os.ReadFile("/proc/self/status")
	if os.Geteuid() == 0 || !strings.Contains(string(status), "CapEff:\t0000000000000000") {
		t.Fatalf("child still privileged: euid %d\n%s", os.Geteuid(), status)
	}

	// Probe says why.
	for _, f := range Probe() {
		t.Logf("%v", f)
		switch f.Name {
		case "ebpf-device", "ebpf-cache":
			if f.OK || !errors.Is(f.Err, ErrNoPrivilege) || !errors.Is(f.Err, ErrUnavailable) {
				t.Errorf("%s: OK %v, err %v; want ErrNoPrivilege", f.Name, f.OK, f.Err)
			}
			var fe *FeatureError
			if !errors.As(f.Err, &fe) || !errors.Is(fe, unix.EPERM) {
				t.Errorf("%s: %v does not carry the kernel's EPERM", f.Name, f.Err)
			}
		case "clock":
			if !f.OK {
				t.Errorf("clock: %v", f.Err)
			}
		}
	}

	e := Default()
	// Prepare says why DEVICE cannot be measured; CACHE can, from
	// cachestat, so it is no failure.
	if err := e.Prepare(1<<abi.AttrDevice | 1<<abi.AttrCache); !errors.Is(err, ErrNoPrivilege) ||
		!strings.Contains(err.Error(), "device") || (cachestatErr() == nil && strings.Contains(err.Error(), "cache:")) {
		t.Errorf("Prepare as nobody: %v; want DEVICE's ErrNoPrivilege alone", err)
	}
	if !e.Supported().Has(abi.AttrDevice) || !e.Supported().Has(abi.AttrCache) {
		t.Errorf("params.attrs %#x lacks DEVICE or CACHE: they are supported, only unavailable", uint64(e.Supported()))
	}

	// O_DIRECT read: succeeds, DEVICE UNAVAILABLE, clocks OK.
	fd, err := unix.Open(data, unix.O_RDONLY|unix.O_DIRECT, 0)
	if err != nil {
		t.Fatalf("open O_DIRECT as nobody: %v", err)
	}
	defer unix.Close(fd)
	reqs := reqsFor(abi.AttrDevice, abi.AttrLatency)
	if err := e.Check(reqs, &Target{Kind: KindDirect}); !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("REQUIRE_ATTRS with DEVICE: Check = %v, want EOPNOTSUPP", err)
	}
	nDirect := 0
	directRun(t, e, fd, 1<<20, 4096, 4, 16, reqs, func(io *directIO) {
		nDirect++
		out, _ := e.Encode(nil, reqs, &io.t, &io.s, 64)
		m := attrMap(t, out)
		if s := m[abi.AttrDevice].Status; s != abi.AttrUnavailable {
			t.Errorf("DEVICE %s", abi.StatusName(s))
		}
		if s := m[abi.AttrLatency].Status; s != abi.AttrOK {
			t.Errorf("LATENCY %s", abi.StatusName(s))
		}
	})
	if nDirect != 16 {
		t.Errorf("%d direct reads completed", nDirect)
	}

	// Buffered read: eBPF-only CACHE is UNAVAILABLE; the default engine
	// falls back to cachestat(2), which the kernel allows on a file its
	// caller owns (TestPrivDrop chowns it to nobody).
	f, err := os.Open(data)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	m, _ := bufferedRead(t, NewEngine(Clock{}, NewCache(CacheBPF)), int(f.Fd()), buf, 0, reqsFor(abi.AttrCache))
	if s := m[abi.AttrCache].Status; s != abi.AttrUnavailable {
		t.Errorf("eBPF CACHE as nobody: %s", abi.StatusName(s))
	}
	m, s := bufferedRead(t, e, int(f.Fd()), buf, 0, reqsFor(abi.AttrCache))
	a := m[abi.AttrCache]
	if a.Status != abi.AttrOK {
		t.Fatalf("CACHE as nobody on a file nobody owns: %s, want OK from the cachestat(2) fallback (cachestat itself: %v)",
			abi.StatusName(a.Status), unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{Len: 1}, &unix.Cachestat_t{}, 0))
	}
	hit, miss, _ := a.U32Pair()
	if CacheSourceOf(s) != "cachestat" || hit+miss != 16 {
		t.Errorf("fallback CACHE from %q: %d + %d pages, want 16 from cachestat", CacheSourceOf(s), hit, miss)
	}
	t.Logf("CACHE as nobody: OK from cachestat(2): hit %d miss %d", hit, miss)
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
