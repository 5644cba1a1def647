package kioctx

// A rapid state machine over a real context: random submits (NOOP,
// O_DIRECT reads, socket reads that wait for a peer), peer writes,
// cancels, reaps and getevents, checked against a model. Exactly-once
// (every accepted iocb yields one event, no event is unknown or repeated)
// and max_inflight (Submit accepts exactly as many as the bound allows,
// Inflight is accepted minus reaped) hold after every step.
//
//	RAPID_CHECKS=200 go test ./kioctx -run TestRapidContext

import (
	"errors"
	"os"
	"testing"

	"golang.org/x/sys/unix"
	"pgregory.net/rapid"

	"github.com/aio2/aio2/abi"
)

type machine struct {
	c    *Context
	max  int
	file *os.File
	sock [2]int
	mem  []byte

	accepted int
	reaped   int
	keys     map[uint64]string // key -> kind, for accepted iocbs not yet reaped
	cancel   map[uint64]error  // Cancel's answer, for keys cancelled
	seen     map[uint64]bool
	buf      []byte
}

func (m *machine) submit(t *rapid.T, cbs []Iocb, kind string) {
	n, err := m.c.Submit(cbs)
	room := m.max - (m.accepted - m.reaped)
	want := min(len(cbs), room)
	if n != want {
		t.Fatalf("Submit of %d %s with room %d accepted %d (%v)", len(cbs), kind, room, n, err)
	}
	if n == 0 && !errors.Is(err, ErrInflightFull) {
		t.Fatalf("Submit refused with %v, want ErrInflightFull", err)
	}
	for _, cb := range cbs[:n] {
		if _, dup := m.keys[cb.Key]; dup || m.seen[cb.Key] {
			t.Fatalf("key %#x assigned twice", cb.Key)
		}
		m.keys[cb.Key] = kind
	}
	m.accepted += n
}

func (m *machine) take(t *rapid.T, b []byte) {
	for off := 0; off < len(b); {
		var ev abi.Event
		next, err := abi.NextEvent(b, off, &ev)
		if err != nil {
			t.Fatalf("event at %d: %v", off, err)
		}
		off = next
		kind, ok := m.keys[ev.Obj]
		if !ok {
			t.Fatalf("event for key %#x: unknown or repeated (seen %v)", ev.Obj, m.seen[ev.Obj])
		}
		delete(m.keys, ev.Obj)
		m.seen[ev.Obj] = true
		m.reaped++
		if cerr, was := m.cancel[ev.Obj]; was {
			switch {
			case cerr == nil && ev.Res != -int64(unix.ECANCELED):
				t.Fatalf("%s %#x: Cancel said yes, res %d", kind, ev.Obj, ev.Res)
			case errors.Is(cerr, ErrInProgress) && ev.Res == -int64(unix.ECANCELED):
				t.Fatalf("%s %#x: Cancel said in progress, res ECANCELED", kind, ev.Obj)
			}
			continue
		}
		want := map[string]int64{"noop": 0, "direct": 4096, "sock": 8}[kind]
		if ev.Res != want {
			t.Fatalf("%s %#x: res %d, want %d", kind, ev.Obj, ev.Res, want)
		}
	}
}

func (m *machine) Noops(t *rapid.T) {
	k := rapid.IntRange(1, 6).Draw(t, "k")
	m.submit(t, noops(0, k), "noop")
}

func (m *machine) DirectReads(t *rapid.T) {
	k := rapid.IntRange(1, 4).Draw(t, "k")
	cbs := make([]Iocb, k)
	for i := range cbs {
		blk := rapid.IntRange(0, 15).Draw(t, "blk")
		cbs[i] = Iocb{Opcode: abi.OpPread, Fd: int32(m.file.Fd()), Buf: m.mem[i*4096 : (i+1)*4096], Offset: int64(blk) * 4096}
	}
	m.submit(t, cbs, "direct")
}

func (m *machine) SockRead(t *rapid.T) {
	m.submit(t, []Iocb{{Opcode: abi.OpPread, Fd: int32(m.sock[0]), Buf: make([]byte, 8), Offset: -1}}, "sock")
}

func (m *machine) PeerWrite(t *rapid.T) {
	if _, err := unix.Write(m.sock[1], []byte("datagram")); err != nil {
		t.Fatal(err)
	}
}

func (m *machine) Cancel(t *rapid.T) {
	if len(m.keys) == 0 {
		t.Skip("nothing to cancel")
	}
	var keys []uint64
	for k := range m.keys {
		if _, done := m.cancel[k]; !done {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		t.Skip("all cancelled")
	}
	// Map order is random; sort for rapid's determinism.
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if keys[j] < keys[i] {
				keys[i], keys[j] = keys[j], keys[i]
			}
		}
	}
	key := rapid.SampledFrom(keys).Draw(t, "key")
	err := m.c.Cancel(key)
	if err != nil && !errors.Is(err, ErrInProgress) && !errors.Is(err, ErrAlreadyDone) {
		t.Fatalf("Cancel(%#x): %v", key, err)
	}
	if m.keys[key] == "noop" && err == nil {
		t.Fatalf("a NOOP was cancelled")
	}
	m.cancel[key] = err
}

func (m *machine) Reap(t *rapid.T) {
	n, err := m.c.Reap(m.buf[:rapid.IntRange(1, 8).Draw(t, "events")*m.c.maxEv])
	if err != nil {
		t.Fatal(err)
	}
	m.take(t, m.buf[:n])
}

func (m *machine) GetEvents(t *rapid.T) {
	n, err := m.c.GetEvents(0, m.buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	m.take(t, m.buf[:n])
}

func (m *machine) Check(t *rapid.T) {
	if got, want := m.c.Inflight(), m.accepted-m.reaped; got != want {
		t.Fatalf("Inflight %d, want accepted %d - reaped %d", got, m.accepted, m.reaped)
	}
	if m.accepted-m.reaped > m.max {
		t.Fatalf("%d unreaped, max_inflight %d", m.accepted-m.reaped, m.max)
	}
}

func TestRapidContext(t *testing.T) {
	f, _ := directFile(t, 16*4096)
	mem := alignedBuf(t, 4*4096)
	rapid.Check(t, func(t *rapid.T) {
		max := rapid.SampledFrom([]int{4, 16, 64}).Draw(t, "max_inflight")
		p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1, RingBytes: 4096, MaxInflight: uint32(max)}
		c, err := Setup(&p, WithWorkers(2))
		if err != nil {
			t.Fatal(err)
		}
		sock, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(sock[0])
		defer unix.Close(sock[1])
		m := &machine{c: c, max: max, file: f, sock: [2]int{sock[0], sock[1]}, mem: mem,
			keys: map[uint64]string{}, cancel: map[uint64]error{}, seen: map[uint64]bool{},
			buf: make([]byte, 64*c.maxEv)}
		t.Repeat(rapid.StateMachineActions(m))
		unreaped, err := c.Destroy()
		if err != nil {
			t.Fatal(err)
		}
		if unreaped != m.accepted-m.reaped {
			t.Fatalf("Destroy: %d unreaped, want %d", unreaped, m.accepted-m.reaped)
		}
	})
}
