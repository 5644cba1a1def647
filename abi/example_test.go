package abi_test

import (
	"fmt"

	"github.com/aio2/aio2/abi"
)

// Build a submission buffer of two iocb2 records, the first asking for
// LATENCY and a TAG, and walk it as submit does.
func ExampleDecodeIocb() {
	var reqs []byte
	reqs = abi.AppendAttrReq(reqs, abi.AttrLatency, nil)
	reqs = abi.AppendAttrReq(reqs, abi.AttrTag, []byte("req-1"))
	buf := abi.AppendIocb(nil, &abi.Iocb{Opcode: abi.OpPread, Fd: 3, Nbytes: 4096, Data: 1}, reqs)
	buf = abi.AppendIocb(buf, &abi.Iocb{Opcode: abi.OpFsync, Fd: 3, Data: 2}, nil)

	var cb abi.Iocb
	for off := 0; off < len(buf); {
		r, next, err := abi.DecodeIocb(buf, off, &cb)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("at %d: %s data=%d len=%d", off, abi.OpName(cb.Opcode), cb.Data, cb.Len)
		it := abi.NewAttrIter(r)
		for a, ok := it.Next(); ok; a, ok = it.Next() {
			fmt.Printf(" +%s", abi.AttrName(a.ID))
		}
		fmt.Println()
		off = next
	}
	// Output:
	// at 0: PREAD data=1 len=88 +latency +tag
	// at 88: FSYNC data=2 len=64
}

// Encode an EVENT record with attributes, then decode, validate and read
// it the way a reaper does.
func ExampleNextEvent() {
	buf := abi.BeginEvent(nil, 7, 100, 4096, 0)
	buf = abi.AppendAttrU64(buf, abi.AttrLatency, 52000)
	buf = abi.AppendAttrStatus(buf, abi.AttrDevice, abi.AttrUnavailable)
	buf = abi.EndEvent(buf, 0, 0)

	var ev abi.Event
	if _, err := abi.NextEvent(buf, 0, &ev); err != nil {
		fmt.Println(err)
		return
	}
	if err := abi.ValidateEvent(&ev, 0); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("data=%d res=%d\n", ev.Data, ev.Res)
	it := abi.NewAttrIter(ev.Attrs)
	for a, ok := it.Next(); ok; a, ok = it.Next() {
		if v, ok := a.U64(); ok && a.Status == abi.AttrOK {
			fmt.Printf("%s %s %d\n", abi.AttrName(a.ID), abi.StatusName(a.Status), v)
		} else {
			fmt.Printf("%s %s\n", abi.AttrName(a.ID), abi.StatusName(a.Status))
		}
	}
	// Output:
	// data=7 res=4096
	// latency OK 52000
	// device UNAVAILABLE
}
