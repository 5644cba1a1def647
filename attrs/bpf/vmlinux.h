/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A hand-trimmed vmlinux.h: only the kernel types attrs.bpf.c reads, with
 * only the fields it reads. Every struct carries preserve_access_index, so
 * clang emits CO-RE relocations and cilium/ebpf resolves each field by name
 * against the running kernel's BTF (/sys/kernel/btf/vmlinux) at load time;
 * offsets below need not match any kernel. Field names and types follow
 * Linux 6.18 (include/linux/blk-mq.h struct request, include/linux/blk_types.h
 * struct bio and struct block_device, include/linux/fs.h struct kiocb, struct
 * file, struct inode, struct super_block, struct address_space,
 * include/linux/mm_types.h struct folio, fs/iomap/direct-io.c struct
 * iomap_dio, fs/aio.c struct aio_kiocb, include/uapi/linux/aio_abi.h struct
 * io_event, include/linux/fdtable.h). The full header is what
 * `bpftool btf dump file /sys/kernel/btf/vmlinux format c` prints; it is
 * 134k lines and not needed.
 */
#ifndef AIO2_VMLINUX_H
#define AIO2_VMLINUX_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s32 s32;
typedef __s64 s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
enum { false = 0, true = 1 };

typedef u32 dev_t;
typedef s64 loff_t;
typedef u64 sector_t;
typedef u8 blk_status_t;
typedef unsigned long pgoff_t;

enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_RINGBUF = 27,
};

enum {
	BPF_F_MMAPABLE = (1U << 10),
};

enum {
	BPF_ANY = 0,
};

enum {
	BPF_RB_NO_WAKEUP = (1ULL << 0),
};

#pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)

struct super_block {
	dev_t s_dev;
};

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
	loff_t i_size;
};

struct address_space {
	struct inode *host;
};

struct file {
	struct inode *f_inode;
	struct address_space *f_mapping;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct task_struct {
	struct files_struct *files;
};

struct kiocb {
	struct file *ki_filp;
	loff_t ki_pos;
	void (*ki_complete)(struct kiocb *iocb, long ret);
};

/* fs/aio.c: one native AIO request. In the kernel rw sits in an anonymous
 * union; ki_res is the io_event it will post, data and obj already filled
 * in by io_submit (aio_data, and the address of the user's iocb). */
struct io_event {
	__u64 data;
	__u64 obj;
	__s64 res;
	__s64 res2;
};

struct aio_kiocb {
	struct kiocb rw;
	struct io_event ki_res;
};

struct iomap_dio {
	struct kiocb *iocb;
};

struct block_device {
	sector_t bd_start_sect;
	dev_t bd_dev;
};

struct bio;
typedef void bio_end_io_t(struct bio *);

struct bio {
	struct bio *bi_next;
	struct block_device *bi_bdev;
	bio_end_io_t *bi_end_io;
	void *bi_private;
};

struct request {
	unsigned int __data_len;
	sector_t __sector;
	struct bio *bio;
	struct block_device *part;
};

typedef struct {
	unsigned long f;
} memdesc_flags_t;

/* In the kernel these sit in anonymous unions; CO-RE finds them by name. */
struct folio {
	memdesc_flags_t flags;
	struct address_space *mapping;
	unsigned long index;
	unsigned int _nr_pages;
};

#pragma clang attribute pop

enum pageflags {
	PG_head = 6,
};

#endif /* AIO2_VMLINUX_H */
