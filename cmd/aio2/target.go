package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/aio2/aio2/kioctx"
)

// target is the file or block device a workload runs on.
type target struct {
	path    string
	fd      int
	size    int64 // bytes the workload may touch, from offset 0
	isBlock bool
	align   uint32 // O_DIRECT offset/length alignment (0: not known or not direct)
	memAl   uint32 // O_DIRECT buffer alignment
	made    bool   // aio2 made the file and removes it
	// rotational is what sysfs says of the block device under the
	// target (false where it is not known): it picks the submit batch.
	rotational bool
}

// openTarget opens o.filename, or makes and fills a file when it is empty.
// Every error a user can cause comes back as a usageError naming what to
// change; a file made here is removed again on error. made, if not nil,
// is told the path of a file aio2 makes as soon as it exists, before it
// is filled (so that a second Ctrl-C during the lay-out can remove it).
func openTarget(ctx context.Context, o *ioOptions, stderr io.Writer, made func(path string)) (t *target, err error) {
	if o.filename == "" {
		return makeTarget(ctx, o, stderr, made)
	}
	t = &target{path: o.filename, fd: -1}
	st, err := os.Stat(o.filename)
	if errors.Is(err, os.ErrNotExist) {
		return nil, usagef("--filename=%s: no such file or device (give an existing file or block device, or leave out --filename and aio2 makes one)", o.filename)
	}
	if err != nil {
		return nil, usagef("--filename=%s: %v", o.filename, err)
	}
	switch {
	case st.Mode().IsRegular():
	case st.Mode()&os.ModeDevice != 0 && st.Mode()&os.ModeCharDevice == 0:
		t.isBlock = true
	default:
		return nil, usagef("--filename=%s is not a regular file or block device", o.filename)
	}
	flags := unix.O_RDONLY | unix.O_CLOEXEC
	if o.writes() {
		flags = unix.O_RDWR | unix.O_CLOEXEC
	}
	if o.direct {
		flags |= unix.O_DIRECT
	}
	fd, err := unix.Open(o.filename, flags|noatime(t.isBlock), 0)
	if err == unix.EPERM && t.isBlock {
		// O_NOATIME needs the device's owner or CAP_FOWNER.
		fd, err = unix.Open(o.filename, flags, 0)
	}
	switch {
	case err == nil:
	case o.writes() && (err == unix.EACCES || err == unix.EPERM || err == unix.EROFS || err == unix.ETXTBSY):
		return nil, usagef("--filename=%s is read-only (%v): use --rw=read or --rw=randread, or a writable target", o.filename, err)
	case o.direct && err == unix.EINVAL:
		return nil, usagef("--filename=%s: its file system does not support O_DIRECT: use --direct=0 or a file elsewhere", o.filename)
	default:
		return nil, usagef("--filename=%s: %v", o.filename, err)
	}
	t.fd = fd
	t.rotational = isRotational(fd)
	defer func() {
		if err != nil {
			unix.Close(fd)
		}
	}()
	// The kernel opens a read-only block device (BLKROSET, losetup -r, a
	// write-protected disk) for writing and fails each write with EPERM:
	// found by a walk through the docs, 2026-11-22, as a run whose IOs
	// all failed, where a usage error was promised.
	if t.isBlock && o.writes() {
		if ro, err := unix.IoctlGetInt(fd, unix.BLKROGET); err == nil && ro != 0 {
			return nil, usagef("--filename=%s is a read-only block device: use --rw=read or --rw=randread, or a writable target", o.filename)
		}
	}
	have := st.Size()
	if st.Mode().IsRegular() && have == 0 {
		return nil, usagef("--filename=%s is empty: give a file with data, or leave out --filename and aio2 makes one", o.filename)
	}
	if t.isBlock {
		end, err := unix.Seek(fd, 0, io.SeekEnd)
		if err != nil {
			return nil, fmt.Errorf("size of %s: %w", o.filename, err)
		}
		have = end
	}
	t.size = have
	if o.size > 0 {
		if o.size > have {
			return nil, usagef("--size=%d is larger than %s (%d bytes): use --size=%d or less", o.size, o.filename, have, have)
		}
		t.size = o.size
	}
	if err := t.checkAlign(o); err != nil {
		return nil, err
	}
	return t, nil
}

// checkAlign finds the O_DIRECT alignment and checks --bs and --size
// against it.
func (t *target) checkAlign(o *ioOptions) error {
	if t.size < o.bs {
		return usagef("--size=%d is smaller than --bs=%d: use a larger --size or a smaller --bs", t.size, o.bs)
	}
	if !o.direct {
		return nil
	}
	if t.isBlock {
		lbs, err := unix.IoctlGetInt(t.fd, unix.BLKSSZGET)
		if err != nil {
			return fmt.Errorf("logical block size of %s: %w", t.path, err)
		}
		t.align, t.memAl = uint32(lbs), uint32(lbs)
	} else {
		if al, err := kioctx.DIOAlign(t.fd); err == nil {
			t.align, t.memAl = al.Offset, al.Mem
		}
		if t.align == 0 {
			// The file system does not report it: 4096 is right for every
			// Linux file system with O_DIRECT on any block device.
			t.align, t.memAl = 4096, 4096
		}
	}
	if o.bs%int64(t.align) != 0 {
		return usagef("--bs=%d is not a multiple of the O_DIRECT alignment of %s (%d bytes): use --bs=%d or another multiple of %d",
			o.bs, t.path, t.align, max(int64(t.align), o.bs/int64(t.align)*int64(t.align)), t.align)
	}
	return nil
}

// makeTarget creates a file of o.size (default 1 GiB) in o.directory (or
// the temp dir), writes every block so that reads reach the device rather
// than unwritten extents, and marks it for removal.
func makeTarget(ctx context.Context, o *ioOptions, stderr io.Writer, made func(path string)) (t *target, err error) {
	dir := o.directory
	if dir == "" {
		dir = os.TempDir()
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return nil, usagef("--directory=%s is not a directory", dir)
	}
	size := o.size
	if size == 0 {
		size = 1 << 30
	}
	// Refused before a byte is written: the lay-out writes every block,
	// and a --size=1t typo would fill the file system first (found by a
	// walk through the docs, 2026-11-22).
	var sfs unix.Statfs_t
	if err := unix.Statfs(dir, &sfs); err == nil {
		if free := int64(sfs.Bavail) * sfs.Bsize; size > free {
			where := "--directory=" + dir
			if o.directory == "" {
				where = "the temp dir " + dir
			}
			return nil, usagef("%s has %s free, less than --size=%s: use a smaller --size or another --directory",
				where, humanBytes(float64(free)), humanBytes(float64(size)))
		}
	}
	f, err := os.CreateTemp(dir, "aio2-io-*.dat")
	if err != nil {
		return nil, usagef("--directory=%s: cannot create a file there (%v): use another --directory", dir, unwrapPath(err))
	}
	path := f.Name()
	f.Close()
	if made != nil {
		made(path)
	}
	t = &target{path: path, fd: -1, made: true, size: size}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	flags := unix.O_RDWR | unix.O_CLOEXEC
	if o.direct {
		flags |= unix.O_DIRECT
	}
	fd, err := unix.Open(path, flags, 0)
	if err == unix.EINVAL && o.direct {
		return t, usagef("--directory=%s does not support O_DIRECT: use another --directory (or --direct=0)", dir)
	}
	if err != nil {
		return t, fmt.Errorf("open %s: %w", path, err)
	}
	t.fd = fd
	t.rotational = isRotational(fd)
	if err := t.checkAlign(o); err != nil {
		return t, err
	}
	if size%int64(max(t.align, 1)) != 0 {
		return t, usagef("--size=%d is not a multiple of the O_DIRECT alignment (%d bytes) of %s: use --size=%d or another multiple of %d",
			size, t.align, dir, max(int64(t.align), size/int64(t.align)*int64(t.align)), t.align)
	}
	if err := fill(ctx, t, stderr); err != nil {
		return t, err
	}
	return t, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// fill writes size bytes of pseudo-random data in 1 MiB pieces, then
// fsyncs, so that the workload reads allocated, written blocks.
func fill(ctx context.Context, t *target, stderr io.Writer) error {
	const chunk = 1 << 20
	buf, err := kioctx.AlignedBuf(chunk)
	if err != nil {
		return fmt.Errorf("buffer for laying out %s: %w", t.path, err)
	}
	defer kioctx.FreeBuf(buf)
	r := rand.New(rand.NewPCG(1, 2))
	fmt.Fprintf(stderr, "aio2: laying out %s of %s\n", t.path, humanBytes(float64(t.size)))
	for off := int64(0); off < t.size; {
		if ctx.Err() != nil {
			return errors.New("interrupted while laying out the file")
		}
		n := min(int64(chunk), t.size-off)
		for i := 0; i+8 <= int(n); i += 8 {
			v := r.Uint64()
			buf[i], buf[i+1], buf[i+2], buf[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
			buf[i+4], buf[i+5], buf[i+6], buf[i+7] = byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56)
		}
		w, err := unix.Pwrite(t.fd, buf[:n], off)
		if err == unix.EINTR {
			// A signal (the progress ticker's, or Ctrl-C being handled
			// by os/signal) interrupted the write before any byte
			// moved; retry it.
			continue
		}
		if err != nil {
			if err == unix.ENOSPC {
				return usagef("no space for a %s file in %s: use a smaller --size or another --directory", humanBytes(float64(t.size)), filepath.Dir(t.path))
			}
			return fmt.Errorf("laying out %s: %w", t.path, err)
		}
		off += int64(w)
	}
	if err := unix.Fsync(t.fd); err != nil {
		return fmt.Errorf("fsync %s: %w", t.path, err)
	}
	return nil
}

// close closes the target and removes it if aio2 made it.
func (t *target) close() {
	if t == nil {
		return
	}
	if t.fd >= 0 {
		unix.Close(t.fd)
		t.fd = -1
	}
	if t.made {
		os.Remove(t.path)
		t.made = false
	}
}

// noatime is O_NOATIME for a block device, as fio opens one: every read
// of a device opened without it goes through touch_atime (about 20 ns of
// system time per IO at QD1 on zram, perf record -e cpu-clock). A
// regular file keeps its atime, as with fio.
func noatime(isBlock bool) int {
	if isBlock {
		return unix.O_NOATIME
	}
	return 0
}

// sysfs is where isRotational looks; a test points it at a tree of its
// own.
var sysfs = "/sys"

// isRotational reports whether sysfs calls the block device under fd
// rotational (queue/rotational is 1): the device itself for a block
// device, the one holding the file system for a file, and for a
// partition its disk. It is false where that is not known: a file system
// on no single block device (tmpfs, overlayfs, btrfs over several), or no
// sysfs.
func isRotational(fd int) bool {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false
	}
	dev := st.Dev
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		dev = st.Rdev
	}
	dir := fmt.Sprintf("%s/dev/block/%d:%d", sysfs, unix.Major(dev), unix.Minor(dev))
	q := dir + "/queue/rotational"
	if _, err := os.Stat(dir + "/partition"); err == nil {
		// The path is resolved by the kernel, so ".." is the disk
		// holding the partition, not the directory of the link.
		q = dir + "/../queue/rotational"
	}
	b, err := os.ReadFile(q)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}
