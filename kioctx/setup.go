package kioctx

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
	"github.com/aio2/aio2/ring"
)

// Features every context of this implementation has.
const baseFeatures = abi.FeatNoDrop | abi.FeatSyscall | abi.FeatPoll | abi.FeatShared | abi.FeatIssueSync

// Setup creates a context from p (io_setup2) and writes the granted values
// back into p: version, ring_bytes, max_event_bytes, eventfd,
// max_inflight, features and attrs. Unknown flags, non-zero reserved
// fields and a size below 64 are EINVAL (*abi.Error). A version above 2 is
// granted 2. With SETUP_NO_RING no ring is mapped and events come only
// through GetEvents. With SETUP_SHARED the ring lives in a sealed memfd
// (RingFile). p.Eventfd -1 makes the context its own eventfd; any other
// value is taken as the caller's eventfd (0 included: the zero value of
// abi.Params names fd 0, which Setup refuses unless it is an eventfd),
// which must stay open until Destroy. An io_setup EAGAIN is reported
// naming /proc/sys/fs/aio-max-nr.
func Setup(p *abi.Params, opts ...Option) (*Context, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	o := options{workers: 4}
	for _, f := range opts {
		f(&o)
	}
	if o.engine == nil {
		o.engine = attrs.Default()
	}
	if o.engine.Supported().Has(abi.AttrLatency) {
		// LATENCY moves to the TSC once it is calibrated: 20 ms, once
		// per process, in the background (attrs.StartTSC).
		attrs.StartTSC()
	}
	if o.workers < 1 {
		o.workers = 1
	}
	g := *p
	if g.Version > abi.Version2 {
		g.Version = abi.Version2
	}
	want := g.RingBytes
	if want == 0 {
		want = DefaultRingBytes
	}
	g.RingBytes = abi.GrantRingBytes(want)
	g.MaxEventBytes = abi.GrantMaxEventBytes(g.MaxEventBytes, g.RingBytes)
	switch {
	case g.MaxInflight == 0:
		g.MaxInflight = DefaultMaxInflight
	case g.MaxInflight > MaxMaxInflight:
		g.MaxInflight = MaxMaxInflight
	}
	if g.Version == abi.VersionLegacy {
		// ring_bytes is the io_event array; getevents hands events out as
		// bare 40-byte EVENT records, so that is max_event_bytes.
		g.MaxEventBytes = abi.EventHeaderBytes
		// Granted, like every size: at most ring.MaxLegacyNr events (64
		// MiB), rather than EINVAL for a larger ask.
		g.RingBytes = min(g.RingBytes, ring.MaxLegacyNr*abi.IoEventBytes)
		g.MaxInflight = min(g.MaxInflight, legacyNr(g.RingBytes)-1)
	}
	c := &Context{
		eng:   o.engine,
		efd:   -1,
		maxEv: int(g.MaxEventBytes),
	}
	fail := func(err error) (*Context, error) {
		c.teardown()
		return nil, err
	}

	// The eventfd: the caller's, after checking it is one, or ours.
	if g.Eventfd >= 0 {
		if err := checkEventfd(int(g.Eventfd)); err != nil {
			return fail(err)
		}
		c.efd = int(g.Eventfd)
	} else {
		fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			return fail(errorf("setup", errnoOf(err), "eventfd: %v", err))
		}
		c.efd, c.ownEfd = fd, true
		g.Eventfd = int32(fd)
	}

	// The ring. Without SETUP_NO_RING a private ring lives in Go memory
	// (nobody else maps it); SETUP_SHARED puts it in a sealed memfd. With
	// SETUP_NO_RING the same machinery runs over a ring nobody sees, which
	// GetEvents alone reaps.
	var reg *ring.Region
	var err error
	if g.Version == abi.VersionLegacy {
		if c.leg, err = newLegacy(g.Flags&abi.SetupShared != 0 && g.Flags&abi.SetupNoRing == 0, legacyNr(g.RingBytes)); err != nil {
			return fail(fmt.Errorf("kioctx: setup: legacy ring: %w", err))
		}
		if g.Flags&abi.SetupNoRing == 0 {
			c.region = c.leg.lr.Bytes()
		}
		if g.Flags&abi.SetupShared != 0 && g.Flags&abi.SetupNoRing == 0 {
			if c.memfd, err = dupFile(c.leg.lr.Fd(), "aio2-legacy-ring"); err != nil {
				return fail(err)
			}
		}
		// The version 2 machinery stays for its accounting helpers; a
		// minimal ring nobody sees.
		g2 := abi.GrantMaxEventBytes(0, abi.MinRingBytes)
		reg, err = ring.NewHeap(abi.MinRingBytes, g2)
	} else if g.Flags&abi.SetupShared != 0 && g.Flags&abi.SetupNoRing == 0 {
		reg, err = ring.NewMemfd("aio2-ring", g.RingBytes, g.MaxEventBytes)
		if err == nil {
			c.memfd, err = dupFile(reg.Fd(), "aio2-ring")
		}
	} else {
		reg, err = ring.NewHeap(g.RingBytes, g.MaxEventBytes)
	}
	if err != nil {
		if reg != nil {
			reg.Close()
		}
		return fail(fmt.Errorf("kioctx: setup: ring: %w", err))
	}
	c.reg = reg
	c.prod = ring.NewProducer(reg)
	c.acct.ringBytes = g.RingBytes
	if c.gevRp, err = ring.NewReaper(reg); err != nil {
		return fail(err)
	}
	if g.Flags&abi.SetupNoRing == 0 && c.leg == nil {
		c.region = reg.Bytes()
	}

	c.slots = make([]slot, g.MaxInflight)
	c.free = make([]int32, g.MaxInflight)
	for i := range c.free {
		c.free[i] = int32(len(c.free) - 1 - i)
	}
	c.enc = make([]byte, 0, g.MaxEventBytes)

	if c.nat, err = newNative(c, g.MaxInflight); err != nil {
		return fail(err)
	}
	c.pool = newPool(c, o.workers, int(g.MaxInflight))

	g.Features = baseFeatures | abi.FeatAttrs | abi.FeatCASReap
	g.Attrs = uint64(c.eng.Supported())
	if c.leg != nil {
		// Legacy events have no room for attributes, and CAS reaping of
		// the legacy ring has the ABA hazard of spec section 4.
		g.Features = baseFeatures
		g.Attrs = 0
	}
	c.params = g
	*p = g
	return c, nil
}

// SetupRaw is Setup for a params block in wire form (any size, in the
// convention of clone3): b is decoded with abi.DecodeParams (a size larger
// than 64 whose extra bytes are not zero is E2BIG) and the granted values
// are written back into b's first 64 bytes.
func SetupRaw(b []byte, opts ...Option) (*Context, error) {
	var p abi.Params
	if err := abi.DecodeParams(b, &p); err != nil {
		return nil, err
	}
	c, err := Setup(&p, opts...)
	if err != nil {
		return nil, err
	}
	abi.AppendParams(b[:0], &p)
	return c, nil
}

// checkEventfd makes sure fd is an eventfd: the context writes 8-byte
// counts to it, which would corrupt any other kind of file.
func checkEventfd(fd int) error {
	link, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		var st unix.Stat_t
		if e := unix.Fstat(fd, &st); e != nil {
			return errorf("setup", unix.EBADF, "eventfd %d: %v", fd, e)
		}
		return errorf("setup", unix.EINVAL, "eventfd %d: cannot check its kind: %v", fd, err)
	}
	if link != "anon_inode:[eventfd]" {
		return errorf("setup", unix.EINVAL, "eventfd %d is %q, not an eventfd", fd, link)
	}
	return nil
}

func dupFile(fd int, name string) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("fcntl F_DUPFD_CLOEXEC", err)
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// errnoOf returns the errno inside err, or EIO.
func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}

// teardown releases what Setup acquired, in reverse order; it is also the
// last step of Destroy.
func (c *Context) teardown() {
	if c.pool != nil {
		c.pool.stop()
	}
	if c.nat != nil {
		c.nat.close()
	}
	if c.memfd != nil {
		c.memfd.Close()
		c.memfd = nil
	}
	if c.reg != nil {
		c.reg.Close()
	}
	if c.leg != nil {
		c.leg.lr.Close()
	}
	if c.ownEfd && c.efd >= 0 {
		unix.Close(c.efd)
		c.efd = -1
	}
}
