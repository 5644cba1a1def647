// aio-loop: the two ways of keeping QD32 4 KiB O_DIRECT random reads in
// flight with plain Linux AIO, so that aio2's loop and fio's can be told
// apart from what the device does (docs/benchmarks.md, "Events per wait").
//
//   gcc -O2 -o /tmp/aio-loop cmd/aio2/bench/aio-loop.c
//   /tmp/aio-loop DEV B M FULL       (DEV: a file or device of >= 1 GiB)
//
// FULL=1 is aio2's loop: submit every free slot, B iocbs per io_submit,
// then io_getevents(min 1, max M). FULL=0 is fio's: submit one batch of B,
// and wait (min 1, max M) only when all 32 are in flight; fio's defaults
// are B=1, M=1 (iodepth_batch_complete_max defaults to
// iodepth_batch_complete_min, 1). It does 1 000 000 reads and prints the
// events each io_getevents returned on average, IOPS and CPU per IO.
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { QD = 32, BS = 4096, SPAN = 262144 /* blocks: 1 GiB */, N = 1000000 };

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s DEV B M FULL\n", argv[0]);
		return 2;
	}
	int b = atoi(argv[2]), m = atoi(argv[3]), full = atoi(argv[4]);
	if (b < 1 || b > QD || m < 1 || m > QD) {
		fprintf(stderr, "B and M: 1 to %d\n", QD);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY | O_DIRECT);
	aio_context_t ctx = 0;
	char *buf;
	if (fd < 0 || syscall(SYS_io_setup, 2 * QD, &ctx) < 0 || posix_memalign((void **)&buf, BS, QD * BS)) {
		perror(argv[1]);
		return 1;
	}
	struct iocb cbs[QD], *batch[QD];
	struct io_event ev[QD];
	int free_slots[QD], nfree = QD;
	for (int i = 0; i < QD; i++)
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
		int n = syscall(SYS_io_getevents, ctx, 1, m, ev, NULL);
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
	printf("B=%d M=%d FULL=%d events per io_getevents %.2f IOPS %.0f CPU per IO %.2f us\n", b, m, full,
	       (double)done / waits, done / secs, cpu / done * 1e6);
	return 0;
}
