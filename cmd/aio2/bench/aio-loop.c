// aio-loop: the ways of keeping QD 4 KiB O_DIRECT random reads in flight
// with plain Linux AIO, in C, so that aio2's loop and fio's can be told
// apart from what the device does, and aio2's software cost from the
// least a loop over native AIO must spend (docs/benchmarks.md, "Events
// per wait" and "A floor in C").
//
//   gcc -O2 -o /tmp/aio-loop cmd/aio2/bench/aio-loop.c
//   /tmp/aio-loop DEV QD B M FULL REAP   (DEV: a file or device of >= 1 GiB)
//
// FULL=1 is aio2's loop: submit every free slot, B iocbs per io_submit,
// then io_getevents(min 1, max M). FULL=0 is fio's: submit one batch of B,
// and wait (min 1, max M) only when all QD are in flight; fio's defaults
// are B=1, M=1 (iodepth_batch_complete_max defaults to
// iodepth_batch_complete_min, 1). REAP=1 first takes up to M events from
// the kernel's ring in user space, as aio2 does, and calls io_getevents
// only when the ring is empty. It does 1 000 000 reads and prints the
// events each wait returned on average, IOPS and CPU per IO.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { MAXQD = 256, BS = 4096, SPAN = 262144 /* blocks: 1 GiB */, N = 1000000 };

// The kernel's struct aio_ring (fs/aio.c), mapped at the context's address.
struct aio_ring {
	unsigned id, nr, head, tail, magic, compat_features, incompat_features, header_length;
	struct io_event io_events[];
};

// ring_reap takes up to max events from the kernel's ring without a
// system call: load tail (acquire), copy, store head (release).
static int ring_reap(aio_context_t ctx, struct io_event *ev, int max)
{
	struct aio_ring *r = (struct aio_ring *)ctx;
	unsigned head = r->head, tail = atomic_load_explicit((_Atomic unsigned *)&r->tail, memory_order_acquire);
	int n = 0;
	while (head != tail && n < max) {
		ev[n++] = r->io_events[head];
		head = (head + 1) % r->nr;
	}
	atomic_store_explicit((_Atomic unsigned *)&r->head, head, memory_order_release);
	return n;
}

int main(int argc, char **argv)
{
	if (argc != 7) {
		fprintf(stderr, "usage: %s DEV QD B M FULL REAP\n", argv[0]);
		return 2;
	}
	int qd = atoi(argv[2]), b = atoi(argv[3]), m = atoi(argv[4]), full = atoi(argv[5]), reap = atoi(argv[6]);
	if (qd < 1 || qd > MAXQD || b < 1 || b > qd || m < 1 || m > qd) {
		fprintf(stderr, "QD: 1 to %d; B and M: 1 to QD\n", MAXQD);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECT);
	aio_context_t ctx = 0;
	char *buf;
	if (fd < 0 || syscall(SYS_io_setup, 2 * qd, &ctx) < 0 || posix_memalign((void **)&buf, BS, qd * BS)) {
		perror(argv[1]);
		return 1;
	}
	struct iocb cbs[MAXQD], *batch[MAXQD];
	struct io_event ev[MAXQD];
	int free_slots[MAXQD], nfree = qd;
	for (int i = 0; i < qd; i++)
		free_slots[i] = i;
	long waits = 0, done = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (done < N) {
		do {
			int k = 0;
			while (nfree > 0 && k < b) {
				int s = free_slots[--nfree];
				cbs[s] = (struct iocb){.aio_data = s, .aio_lio_opcode = IOCB_CMD_PREAD, .aio_fildes = fd,
						       .aio_buf = (unsigned long)(buf + s * BS), .aio_nbytes = BS,
						       .aio_offset = (random() % SPAN) * (long)BS};
				batch[k++] = &cbs[s];
			}
			if (k > 0 && syscall(SYS_io_submit, ctx, k, batch) != k) {
				perror("io_submit");
				return 1;
			}
		} while (full && nfree > 0);
		if (!full && nfree > 0)
			continue;
		int n = reap ? ring_reap(ctx, ev, m) : 0;
		if (n == 0)
			n = syscall(SYS_io_getevents, ctx, 1, m, ev, NULL);
		if (n < 0) {
			perror("io_getevents");
			return 1;
		}
		waits++;
		done += n;
		for (int i = 0; i < n; i++)
			free_slots[nfree++] = ev[i].data;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("QD=%d B=%d M=%d FULL=%d REAP=%d events per wait %.2f IOPS %.0f CPU per IO %.2f us\n", qd, b, m, full, reap,
	       (double)done / waits, done / secs, cpu / done * 1e6);
	return 0;
}
