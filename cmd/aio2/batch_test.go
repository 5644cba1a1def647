package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// fakeSysfs makes a sysfs tree under a temp dir in which the block
// device holding path has queue/rotational = rot (or no such file when
// rot is ""), as a partition of a disk when part is set, and points
// sysfs at it for the rest of the test.
func fakeSysfs(t *testing.T, path, rot string, part bool) {
	t.Helper()
	var st unix.Stat_t
	require.NoError(t, unix.Stat(path, &st))
	root := t.TempDir()
	link := filepath.Join(root, "dev", "block", fmt.Sprintf("%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev)))
	require.NoError(t, os.MkdirAll(filepath.Dir(link), 0o755))
	disk := filepath.Join(root, "devices", "disk")
	dev := disk
	if part {
		// As in sysfs: the partition's directory sits in its disk's,
		// and only the disk has a queue.
		dev = filepath.Join(disk, "disk1")
		require.NoError(t, os.MkdirAll(dev, 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dev, "partition"), []byte("1\n"), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(disk, "queue"), 0o755))
	if rot != "" {
		require.NoError(t, os.WriteFile(filepath.Join(disk, "queue", "rotational"), []byte(rot+"\n"), 0o644))
	}
	require.NoError(t, os.Symlink(dev, link))
	old := sysfs
	sysfs = root
	t.Cleanup(func() { sysfs = old })
}

func TestIsRotationalReadsSysfs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(path, []byte("x"), 0o644))
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	for _, c := range []struct {
		rot  string
		part bool
		want bool
	}{
		{"1", false, true},
		{"0", false, false},
		{"1", true, true}, // a partition: its disk's queue
		{"0", true, false},
		{"", false, false}, // not known
	} {
		t.Run(fmt.Sprintf("rot=%q,partition=%v", c.rot, c.part), func(t *testing.T) {
			fakeSysfs(t, path, c.rot, c.part)
			require.Equal(t, c.want, isRotational(int(f.Fd())))
		})
	}
	t.Run("no sysfs", func(t *testing.T) {
		old := sysfs
		sysfs = filepath.Join(dir, "nowhere")
		defer func() { sysfs = old }()
		require.False(t, isRotational(int(f.Fd())))
	})
}

func TestSubmitBatchChoice(t *testing.T) {
	for _, c := range []struct {
		batch, iodepth, reapers int
		rot                     bool
		want                    int
	}{
		{0, 32, 0, false, defaultSubmitBatch},
		{0, 32, 0, true, 1},
		{0, 2, 0, false, 2},   // never more than the queue
		{0, 32, 2, false, 32}, // goroutine reapers: all handed back at once
		{0, 32, 2, true, 1},
		{8, 32, 0, true, 8}, // the flag wins
		{8, 32, 2, false, 8},
	} {
		o := &ioOptions{batch: c.batch, iodepth: c.iodepth, reapers: c.reapers}
		require.Equal(t, c.want, o.submitBatch(&target{rotational: c.rot}), "%+v", c)
	}
}

func TestIodepthBatchFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int // 0: auto
		err  string
	}{
		{nil, 0, ""},
		{[]string{"--iodepth_batch_submit=auto"}, 0, ""},
		{[]string{"--iodepth_batch_submit=3"}, 3, ""},
		{[]string{"--iodepth_batch=2"}, 2, ""},
		{[]string{"--iodepth=8", "--iodepth_batch_submit=0"}, 8, ""},  // fio: 0 is iodepth
		{[]string{"--iodepth=8", "--iodepth_batch_submit=64"}, 8, ""}, // fio clamps to iodepth
		{[]string{"--iodepth_batch_submit=-1"}, 0, "--iodepth_batch_submit=-1: use auto, 0 (as many as --iodepth) or 1 to 4096"},
		{[]string{"--iodepth_batch=many"}, 0, "--iodepth_batch=many: use auto, 0 (as many as --iodepth) or 1 to 4096"},
		{[]string{"--iodepth_batch_submit=5000"}, 0, "--iodepth_batch_submit=5000: use auto"},
	} {
		o, err := parseIOFlags(c.args, io.Discard)
		if c.err != "" {
			var ue *usageError
			require.True(t, errors.As(err, &ue), "%v: %v", c.args, err)
			require.Contains(t, err.Error(), c.err)
			continue
		}
		require.NoError(t, err, "%v", c.args)
		require.Equal(t, c.want, o.batch, "%v", c.args)
	}
}

// TestSubmitCallsCarryTheBatch runs aio2 io in this process and counts
// the iocbs of each submit call: never more than the batch, and the
// batch itself in steady state, whatever the reaper; with the batch left
// to aio2, it is 1 on a target sysfs calls rotational and 4 on one it
// does not.
func TestSubmitCallsCarryTheBatch(t *testing.T) {
	dir := t.TempDir()
	needDirect(t, dir)
	path := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(path, bytes.Repeat([]byte{1}, 4<<20), 0o644))
	for _, c := range []struct {
		name string
		rot  string // "": the flag decides
		flag string
		want int
	}{
		{"flag", "", "--iodepth_batch_submit=3", 3},
		{"flag, reaper goroutines", "", "--iodepth_batch_submit=3 --reaper=goroutines=2", 3},
		{"auto rotational", "1", "", 1},
		{"auto not rotational", "0", "", defaultSubmitBatch},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.rot != "" {
				fakeSysfs(t, path, c.rot, false)
			}
			var mu sync.Mutex
			perCall := map[int]int{} // iocbs in a call -> calls
			starts := runStarts
			t.Cleanup(func() { runStarts = starts })
			runStarts = func(jobs []*job) {
				for _, j := range jobs {
					submit := j.submitRaw
					j.submitRaw = func(recs []byte) (int, error) {
						mu.Lock()
						perCall[len(j.pend)]++ // pend has a slot per record of this call
						mu.Unlock()
						return submit(recs)
					}
				}
			}
			args := []string{"io", "--filename=" + path, "--iodepth=8", "--number=400", "--output-format=json"}
			args = append(args, strings.Fields(c.flag)...)
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			require.Equal(t, 0, code, "stderr: %s", errb.String())
			o := parseOut(t, out.String())
			require.EqualValues(t, 400, o.Jobs[0].Read.TotalIos)
			require.Equal(t, c.want, o.Jobs[0].Aio2.Ring.SubmitBatch, "submit_batch in the report")
			most := 0
			for n := range perCall {
				most = max(most, n)
			}
			require.Equal(t, c.want, most, "most iocbs in one submit call (calls by size: %v)", perCall)
			// 400 IOs at depth 8: after the first fill, slots come back
			// a few at a time, so calls of the full batch dominate.
			require.Greater(t, perCall[c.want]*c.want, 200, "IOs in calls of the full batch (calls by size: %v)", perCall)
		})
	}
}
