package kioctx_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/kioctx"
)

// The context's eventfd in an epoll loop beside a socket: the loop wakes
// for whichever is ready, and reaps completions from the ring without a
// syscall.
func Example_epoll() {
	p := abi.Params{Size: abi.ParamsSize, Version: abi.Version2, Eventfd: -1}
	c, err := kioctx.Setup(&p)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Destroy()

	sock, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	defer unix.Close(sock[0])
	defer unix.Close(sock[1])

	ep, _ := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	defer unix.Close(ep)
	unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, c.Eventfd(), &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.Eventfd())})
	unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, sock[0], &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(sock[0])})

	// Two NOOPs in one batch: one eventfd signal.
	if _, err := c.Submit([]kioctx.Iocb{{Opcode: abi.OpNoop, Data: 1}, {Opcode: abi.OpNoop, Data: 2}}); err != nil {
		fmt.Println(err)
		return
	}
	unix.Write(sock[1], []byte("ping"))

	evs := make([]unix.EpollEvent, 4)
	ring := make([]byte, 16*int(p.MaxEventBytes))
	for done := 0; done < 2; {
		n, err := unix.EpollWait(ep, evs, 1000)
		if err == unix.EINTR {
			continue
		}
		for _, e := range evs[:n] {
			switch e.Fd {
			case int32(c.Eventfd()):
				var cnt [8]byte
				unix.Read(c.Eventfd(), cnt[:])
				k, _ := c.Reap(ring)
				for off := 0; off < k; {
					var ev abi.Event
					off, _ = abi.NextEvent(ring[:k], off, &ev)
					fmt.Printf("completion data=%d res=%d\n", ev.Data, ev.Res)
				}
				fmt.Printf("eventfd count %d\n", cnt[0])
			case int32(sock[0]):
				b := make([]byte, 8)
				k, _ := unix.Read(sock[0], b)
				fmt.Printf("socket %q\n", b[:k])
			}
			done++
		}
	}
	// Unordered output:
	// completion data=1 res=0
	// completion data=2 res=0
	// eventfd count 1
	// socket "ping"
}

// An O_DIRECT write and read of one block through native AIO, with the
// LATENCY attribute, waited for with GetEvents.
func Example_directIO() {
	dir, _ := os.MkdirTemp("", "kioctx-example")
	defer os.RemoveAll(dir)
	f, err := os.OpenFile(filepath.Join(dir, "data"), os.O_RDWR|os.O_CREATE|unix.O_DIRECT, 0o600)
	if err != nil {
		fmt.Println(err) // no O_DIRECT on this file system
		return
	}
	defer f.Close()

	p := abi.Params{Size: abi.ParamsSize, Version: abi.Version2, Eventfd: -1}
	c, err := kioctx.Setup(&p)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Destroy()

	buf, _, err := kioctx.AlignedBufFor(int(f.Fd()), 4096) // statx DIOALIGN
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kioctx.FreeBuf(buf)
	copy(buf, "hello, O_DIRECT")
	lat := abi.AppendAttrReq(nil, abi.AttrLatency, nil)

	out := make([]byte, 4*int(p.MaxEventBytes))
	for _, op := range []uint16{abi.OpPwrite, abi.OpPread} {
		if op == abi.OpPread {
			clear(buf)
		}
		// Submit refuses an iocb it cannot accept (EINVAL for a length
		// the file's O_DIRECT alignment does not allow, say): then no
		// event will come, and waiting for one would wait for ever.
		if _, err := c.Submit([]kioctx.Iocb{{Opcode: op, Fd: int32(f.Fd()), Buf: buf[:4096], Attrs: lat}}); err != nil {
			fmt.Println(err)
			return
		}
		n, err := c.GetEvents(1, out, 5*time.Second)
		if err != nil {
			fmt.Println(err)
			return
		}
		var ev abi.Event
		abi.NextEvent(out[:n], 0, &ev)
		it := abi.NewAttrIter(ev.Attrs)
		a, _ := it.Next()
		ns, _ := a.U64()
		fmt.Printf("%s res=%d latency measured: %v\n", abi.OpName(op), ev.Res, a.Status == abi.AttrOK && ns > 0)
	}
	fmt.Printf("%s\n", buf[:15])
	// Output:
	// PWRITE res=4096 latency measured: true
	// PREAD res=4096 latency measured: true
	// hello, O_DIRECT
}
