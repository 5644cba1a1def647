/*
 * ring.pml: an independent Promela model of the aio2 version 2 ring
 * protocols, spec sections 4 (reaping) and 5 (producing), written from
 * the spec and not from package sim's Go model, to be checked by spin:
 *
 *   spin -a ring.pml && gcc -O2 -DSAFETY -DCOLLAPSE -o pan pan.c && ./pan -m200000
 *
 * Units are 8-byte words: the data area is R words, head and tail are
 * free-running counters modulo CW words (CW = 32 words = 256 bytes, an
 * 8-bit byte counter), reduced modulo R to index. Each load, store and
 * CAS of head or tail, and each word read or written, is one step.
 *
 * Checked at every reachable state (by the monitor process):
 *   tail - head never exceeds R; F_OVERFLOW is set exactly when the
 *   overflow list is not empty.
 * Checked at each step that could break it:
 *   a reaper never reads outside the data area; a successful CAS takes
 *   a record that is really at head, intact, and, for an EVENT, the next
 *   one in production order (exactly once, in order); no reaper reports
 *   corruption (nobody corrupts memory here); once everything is produced
 *   and reaped, every event was delivered.
 *
 * -DSTORE_HEAD builds a broken reaper that publishes head with a plain
 * store, as a single reaper may; with two reapers spin must find an error.
 * -DNO_LEN_CHECK builds a reaper that trusts the length it read.
 */

#ifndef NREAPERS
#define NREAPERS 2
#endif
#define R     4      /* data area, words (32 bytes) */
#define CW    32     /* counter range, words (2^8 bytes) */
#define MAXEV 2      /* max_event_bytes, words */
#ifndef N
#define N     4      /* completions */
#endif

#define EMPTY 0
#define EV    1
#define PAD   2
#define PL    3
#define W(k, i, a) ((k) * 256 + (i) * 16 + (a))
#define KIND(w)    ((w) / 256)
#define ID(w)      (((w) / 16) % 16)
#define AUX(w)     ((w) % 16)

short data[R];
byte  head, tail;   /* words, modulo CW */
bit   foverflow;    /* flags & F_OVERFLOW */
byte  ovfl;         /* events on the overflow list (kernel memory) */
byte  produced;     /* completions so far: the next event id */
byte  delivered;    /* events delivered so far */
bit   pdone;
byte  size[N];      /* each event's record, words */

active proctype producer()
{
	byte h, used, pos, room, need, pad, id, j;
	bit flush;

	/* 8, 16, 8, 16 (, 8) bytes: records start at every position in turn,
	 * so stale heads land in the middle of reused records; far fewer than
	 * 2^8 bytes, so no ABA */
	size[0] = 1; size[1] = 2; size[2] = 1; size[3] = 2;
#if N > 4
	size[4] = 1;
#endif
	do
	:: produced < N || ovfl > 0 ->
		if
		:: produced < N -> flush = 0; id = produced
		:: ovfl > 0 -> flush = 1; id = produced - ovfl
		fi;
		h = head;                                   /* load_acquire(head) */
		d_step {
			used = (tail + CW - h) % CW;
			need = size[id];
			pos = tail % R;
			room = R - pos;
			if
			:: need > room -> pad = room
			:: else -> pad = 0
			fi
		}
		assert(used <= R);                          /* head is never corrupt here */
		if
		:: !flush && (ovfl > 0 || R - used < need + pad) ->
			atomic { ovfl++; foverflow = 1; produced++ }
		:: flush && R - used < need + pad ->
			skip                                    /* stays on the list */
		:: else ->
			if
			:: pad > 0 -> data[pos] = W(PAD, 0, pad); pos = 0
			:: else -> skip
			fi;
			data[pos] = W(EV, id, need);
			j = 1;
			do
			:: j < need -> data[pos + j] = W(PL, id, j); j++
			:: else -> break
			od;
			tail = (tail + need + pad) % CW;        /* store_release(tail) */
			if
			:: flush -> atomic { ovfl--; if :: ovfl == 0 -> foverflow = 0 :: else -> skip fi }
			:: else -> produced++
			fi
		fi
	:: else -> break
	od;
	pdone = 1
}

proctype reaper()
{
	byte h, t, pos, ln, avail, id, j, failh;
	short w, hw;
	bit real, isev, intact, failv, bad;

	do
	:: h = head;                                    /* load_acquire(head) */
		t = tail;                                   /* load_acquire(tail) */
		if
		:: h == t -> skip                           /* empty: wait, or getevents if F_OVERFLOW */
		:: else ->
			pos = h % R;
			hw = data[pos];                         /* the u32 len and u16 type */
			if
			:: KIND(hw) == EV || KIND(hw) == PAD ->
				d_step { real = 1; ln = AUX(hw); isev = (KIND(hw) == EV) }
			:: KIND(hw) == EMPTY ->
				d_step { real = 0; ln = 0; isev = 0 }
			:: KIND(hw) == PL ->
				/* the middle of another record: a torn read shows anything */
				real = 0;
				select(ln : 0 .. R + 1);
				if :: isev = 0 :: isev = 1 fi
			fi;
			d_step {
				avail = (t + CW - h) % CW;
				bad = (ln < 1 || ln > avail || pos + ln > R || (isev && ln > MAXEV))
			}
#ifdef NO_LEN_CHECK
			bad = 0;
#endif
			if
			:: bad ->
				/* torn: retry; failing again with head unmoved is corruption */
				assert(!(failv && failh == h));
				failv = 1; failh = h
			:: else ->
				failv = 0;
				intact = real; id = ID(hw);
				j = 1;
				do
				:: isev && j < ln ->
					assert(pos + j < R);            /* never outside the region */
					w = data[pos + j];
					if
					:: KIND(w) != PL || ID(w) != id || AUX(w) != j -> intact = 0
					:: else -> skip
					fi;
					j++
				:: else -> break
				od;
				atomic {                            /* CAS(head, h, h + len) */
#ifdef STORE_HEAD
					if :: true ->
#else
					if :: head == h ->
#endif
						head = (h + ln) % CW;
						assert(real && data[pos] == hw && (!isev || intact));
						if
						:: isev -> assert(id == delivered); delivered++
						:: else -> skip
						fi
					:: else -> skip                 /* CAS failed: drop the copy */
					fi
				}
			fi
		fi
	od
}

/* Checks what must hold in every state: it can run at any point. */
active proctype monitor()
{
	do
	:: assert((tail + CW - head) % CW <= R);
	   assert(foverflow == (ovfl > 0));
	   assert(!(pdone && ovfl == 0 && head == tail) || delivered == N)
	od
}

init
{
	byte i;
	atomic {
		for (i : 1 .. NREAPERS) {
			run reaper()
		}
	}
}
