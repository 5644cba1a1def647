package kioctx

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
)

// The hot paths allocate nothing in steady state: submit, completion
// (native and NOOP), produce, reap and getevents, with attributes.
func TestNoAllocsSteadyState(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := newCtx(t, 32, 0, 0)
	f, _ := directFile(t, 1<<20)
	mem := alignedBuf(t, 8*4096)
	reqs := abi.AppendAttrReq(nil, abi.AttrLatency, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("t"))
	cbs := make([]Iocb, 8)
	for i := range cbs {
		cbs[i] = Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: mem[i*4096 : (i+1)*4096], Offset: int64(i) * 4096, Attrs: reqs}
	}
	out := make([]byte, 8*c.maxEv)
	round := func() {
		if n, err := c.Submit(cbs); n != len(cbs) || err != nil {
			t.Fatalf("Submit: %d %v", n, err)
		}
		for got := 0; got < len(cbs); {
			n, err := c.GetEvents(1, out, -1)
			if err != nil {
				t.Fatal(err)
			}
			for off := 0; off < n; {
				var ev abi.Event
				off, _ = abi.NextEvent(out[:n], off, &ev)
				got++
			}
		}
	}
	round()
	if a := testing.AllocsPerRun(50, round); a != 0 {
		t.Errorf("O_DIRECT submit+getevents: %v allocs per round of 8", a)
	}
	goBuf := make([]byte, 4096) // Go memory: pinned, not copied
	noop := []Iocb{{Opcode: abi.OpNoop, Attrs: reqs}, {Opcode: abi.OpPread, Fd: int32(f.Fd()), Buf: goBuf}}
	reap := func() {
		if n, err := c.Submit(noop); n != len(noop) || err != nil {
			t.Fatalf("Submit: %d %v", n, err)
		}
		for got := 0; got < 2; {
			n, err := c.Reap(out)
			if err != nil {
				t.Fatalf("Reap: %v", err)
			}
			if n == 0 {
				time.Sleep(10 * time.Microsecond)
				continue
			}
			for off := 0; off < n; got++ {
				var ev abi.Event
				off, _ = abi.NextEvent(out[:n], off, &ev)
			}
		}
	}
	reap()
	if a := testing.AllocsPerRun(50, reap); a != 0 {
		t.Errorf("noop and pinned-buffer read, Reap: %v allocs per round", a)
	}
	raw := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpPread, Fd: int32(f.Fd()), Addr: addrOf(mem), Nbytes: 4096}, nil)
	rawRound := func() {
		if n, err := c.SubmitRaw(raw); n != len(raw) || err != nil {
			t.Fatalf("SubmitRaw: %d %v", n, err)
		}
		if _, err := c.GetEvents(1, out, -1); err != nil {
			t.Fatal(err)
		}
	}
	rawRound()
	if a := testing.AllocsPerRun(50, rawRound); a != 0 {
		t.Errorf("SubmitRaw+GetEvents: %v allocs per round", a)
	}
	// The same with the fd registered (no fcntl per call).
	if err := c.RegisterFile(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	rawRound()
	if a := testing.AllocsPerRun(50, rawRound); a != 0 {
		t.Errorf("SubmitRaw+GetEvents, registered fd: %v allocs per round", a)
	}
	// A GetEvents with a timeout that expires.
	to := func() { c.GetEvents(1, out, time.Microsecond) }
	to()
	if a := testing.AllocsPerRun(20, to); a != 0 {
		t.Errorf("GetEvents timing out: %v allocs", a)
	}
	// Refusals at max_inflight, which aio2 io's external mode meets as
	// flow control on every turn: ErrInflightFull is pre-boxed, and a
	// partly accepted SubmitRaw builds nothing for the rest.
	fill := make([]Iocb, 64)
	for i := range fill {
		fill[i] = Iocb{Opcode: abi.OpNoop}
	}
	if n, err := c.Submit(fill); n == 0 || n == len(fill) || err != nil {
		t.Fatalf("Submit of %d NOOPs at max_inflight 32: %d %v, want a part accepted", len(fill), n, err)
	}
	refused := func() {
		if n, err := c.Submit(cbs); n != 0 || !errors.Is(err, ErrInflightFull) {
			t.Fatalf("Submit when full: %d %v, want ErrInflightFull", n, err)
		}
		if n, err := c.SubmitRaw(raw); n != 0 || !errors.Is(err, ErrInflightFull) {
			t.Fatalf("SubmitRaw when full: %d %v, want ErrInflightFull", n, err)
		}
	}
	refused()
	if a := testing.AllocsPerRun(50, refused); a != 0 {
		t.Errorf("refused Submit and SubmitRaw: %v allocs per round", a)
	}
	for c.Inflight() > 0 {
		if _, err := c.GetEvents(1, out, time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDestroyWakesGetEvents(t *testing.T) {
	p := abi.Params{Size: abi.ParamsSize, Version: 2, Eventfd: -1}
	c, err := Setup(&p)
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sp[0])
	defer unix.Close(sp[1])
	c.Submit([]Iocb{{Opcode: abi.OpPread, Fd: int32(sp[0]), Buf: make([]byte, 8), Offset: -1}})
	res := make(chan error, 1)
	go func() {
		_, err := c.GetEvents(2, make([]byte, 1<<16), -1)
		res <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		if err == nil {
			t.Fatal("GetEvents(min 2) returned without error after Destroy")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("GetEvents still blocked after Destroy")
	}
}
