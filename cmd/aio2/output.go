package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aio2/aio2/abi"
	"github.com/aio2/aio2/attrs"
)

// fioDoc is the top level of fio's JSON output (stat.c: show_run_stats /
// json output), with the keys existing fio tooling reads.
type fioDoc struct {
	FioVersion  string   `json:"fio version"`
	Timestamp   int64    `json:"timestamp"`
	TimestampMs int64    `json:"timestamp_ms"`
	Time        string   `json:"time"`
	Jobs        []fioJob `json:"jobs"`
}

type fioJob struct {
	Jobname    string            `json:"jobname"`
	Groupid    int               `json:"groupid"`
	Error      int64             `json:"error"`
	Eta        int               `json:"eta"`
	Elapsed    int64             `json:"elapsed"`
	JobOptions map[string]string `json:"job options"`
	Read       fioSide           `json:"read"`
	Write      fioSide           `json:"write"`
	Trim       fioSide           `json:"trim"`
	JobRuntime int64             `json:"job_runtime"`
	UsrCPU     float64           `json:"usr_cpu"`
	SysCPU     float64           `json:"sys_cpu"`
	Ctx        int64             `json:"ctx"`
	Majf       int64             `json:"majf"`
	Minf       int64             `json:"minf"`
	Aio2       *aio2Report       `json:"aio2,omitempty"`
}

// fioSide is fio's per-direction object (stat.c: add_ddir_status_json).
type fioSide struct {
	IoBytes    int64   `json:"io_bytes"`
	IoKbytes   int64   `json:"io_kbytes"`
	BwBytes    int64   `json:"bw_bytes"`
	Bw         int64   `json:"bw"`
	Iops       float64 `json:"iops"`
	Runtime    int64   `json:"runtime"`
	TotalIos   int64   `json:"total_ios"`
	ShortIos   int64   `json:"short_ios"`
	DropIos    int64   `json:"drop_ios"`
	SlatNs     fioLat  `json:"slat_ns"`
	ClatNs     fioLat  `json:"clat_ns"`
	LatNs      fioLat  `json:"lat_ns"`
	BwMin      int64   `json:"bw_min"`
	BwMax      int64   `json:"bw_max"`
	BwAgg      float64 `json:"bw_agg"`
	BwMean     float64 `json:"bw_mean"`
	BwDev      float64 `json:"bw_dev"`
	BwSamples  int     `json:"bw_samples"`
	IopsMin    int64   `json:"iops_min"`
	IopsMax    int64   `json:"iops_max"`
	IopsMean   float64 `json:"iops_mean"`
	IopsStddev float64 `json:"iops_stddev"`
	IopsSample int     `json:"iops_samples"`
}

// aio2Report is what fio has no key for: the context as granted and every
// attribute asked, each with its status counts.
type aio2Report struct {
	Ring        ringInfo `json:"ring"`
	Interrupted bool     `json:"interrupted"`
	// Failed is the error that ended the job, if one did (the command
	// then exits non-zero after the report).
	Failed     string               `json:"failed,omitempty"`
	Errors     int64                `json:"io_errors"`
	Truncated  int64                `json:"attrs_truncated_events"`
	UnknownIDs int64                `json:"unknown_attr_ids"`
	Attrs      map[string]attrEntry `json:"attrs"`
}

// attrEntry is one asked attribute. Status always holds the four status
// counts and "missing" (events that did not carry the id at all, which the
// spec forbids); the other fields appear when the attribute had OK values.
type attrEntry struct {
	ID     uint16           `json:"id"`
	Status map[string]int64 `json:"status"`

	Ns *fioLat `json:"ns,omitempty"` // LATENCY, DEVICE

	DeviceRequests   *int64   `json:"device_requests,omitempty"`
	DeviceFraction   *float64 `json:"device_fraction,omitempty"`
	SoftwareFraction *float64 `json:"software_fraction,omitempty"`

	HitPages  *uint64  `json:"hit_pages,omitempty"`
	MissPages *uint64  `json:"miss_pages,omitempty"`
	HitRatio  *float64 `json:"hit_ratio,omitempty"`

	CompletionsByCPU map[string]int64 `json:"completions_by_cpu,omitempty"`
	SameCPU          *int64           `json:"same_cpu,omitempty"`

	SubmitToIssueNs   *fioLat `json:"submit_to_issue_ns,omitempty"`
	IssueToCompleteNs *fioLat `json:"issue_to_complete_ns,omitempty"`

	Echoed     *int64 `json:"echoed,omitempty"`
	Mismatched *int64 `json:"mismatched,omitempty"`

	// Probe (DEVICE) is what the eBPF programs counted during the run.
	Probe *probeCounts `json:"probe,omitempty"`
}

// probeCounts are attrs.DeviceCounters over the run. The programs see
// every process's block requests: the counts are the machine's, the same
// in every job's report.
type probeCounts struct {
	Issues    uint64 `json:"requests_issued"`
	Completes uint64 `json:"requests_completed"`
	Records   uint64 `json:"records"`
	Dropped   uint64 `json:"records_dropped"`
	NoStamp   uint64 `json:"no_issue_time"`
}

var statusKeys = [...]string{"ok", "unsupported", "unavailable", "error", "missing"}

func ptr[T any](v T) *T { return &v }

func (a *attrStats) report() map[string]attrEntry {
	out := make(map[string]attrEntry, len(a.asked))
	for _, id := range a.asked {
		e := attrEntry{ID: id, Status: make(map[string]int64, 5)}
		for i, k := range statusKeys {
			e.Status[k] = a.status[id][i]
		}
		ok := a.status[id][abi.AttrOK] > 0
		switch id {
		case abi.AttrLatency:
			if ok {
				e.Ns = ptr(a.latency.fio(true))
			}
		case abi.AttrDevice:
			if ok {
				e.Ns = ptr(a.device.fio(true))
				e.DeviceRequests = ptr(a.deviceReqs)
				if a.deviceTotalNs > 0 {
					f := a.deviceNs / a.deviceTotalNs
					e.DeviceFraction = ptr(f)
					e.SoftwareFraction = ptr(1 - f)
				}
			}
		case abi.AttrCache:
			if ok {
				e.HitPages, e.MissPages = ptr(a.cacheHit), ptr(a.cacheMiss)
				if t := a.cacheHit + a.cacheMiss; t > 0 {
					e.HitRatio = ptr(float64(a.cacheHit) / float64(t))
				}
			}
		case abi.AttrCPU:
			if ok {
				e.CompletionsByCPU = map[string]int64{}
				for c, n := range a.cpuCompl {
					if n > 0 {
						e.CompletionsByCPU[strconv.Itoa(c)] = n
					}
				}
				if a.cpuBeyond > 0 {
					e.CompletionsByCPU["beyond"] = a.cpuBeyond
				}
				e.SameCPU = ptr(a.sameCPU)
			}
		case abi.AttrTimestamps:
			if ok {
				e.SubmitToIssueNs = ptr(a.queue.fio(true))
				e.IssueToCompleteNs = ptr(a.service.fio(true))
			}
		case abi.AttrTag:
			if ok {
				e.Echoed, e.Mismatched = ptr(a.tagOK), ptr(a.tagBad)
			}
		}
		out[abi.AttrName(id)] = e
	}
	return out
}

// runInfo is what the whole run shares: options and process CPU.
type runInfo struct {
	opts    *ioOptions
	device  *attrs.DeviceCounters // DEVICE's programs over the run, if asked
	start   time.Time
	elapsed time.Duration
	usrCPU  time.Duration
	sysCPU  time.Duration
	ctx     int64
	majf    int64
	minf    int64
}

func (s *sideStats) fio(elapsed time.Duration) fioSide {
	sec := elapsed.Seconds()
	f := fioSide{IoBytes: s.bytes, IoKbytes: s.bytes >> 10, TotalIos: s.ios, ShortIos: s.short, Runtime: runtimeMs(elapsed, s.ios)}
	if sec > 0 {
		// As fio's rate: of the IOs that did not fail (io_completed
		// accounts a failed io_u's error, not its block). A run whose
		// IOs all failed at once had IOPS in the hundreds of thousands.
		f.Iops = float64(s.ios-s.errs) / sec
		f.BwBytes = int64(float64(s.bytes) / sec)
		f.Bw = f.BwBytes >> 10
	}
	f.SlatNs = s.slat.fio()
	// clat's percentiles from the histogram, its min, max, mean and
	// stddev exact, as slat's and lat's are.
	// A percentile is its bucket's highest value, which can lie past the
	// exact max (or, at the bottom, below the exact min): clamp it.
	pct := s.clat.fio(true).Percentile
	f.ClatNs = s.clatM.fio()
	for k, v := range pct {
		pct[k] = min(max(v, f.ClatNs.Min), f.ClatNs.Max)
	}
	f.ClatNs.Percentile = pct
	f.LatNs = s.lat.fio()
	var mean float64
	f.IopsMin, f.IopsMax, f.IopsMean, f.IopsStddev = sampleStats(s.samples)
	f.IopsSample = len(s.samples)
	// Bandwidth samples in whole KiB/s, as fio keeps them, before the
	// statistics: min, max and mean of the same numbers, so the mean lies
	// between them (it could exceed the floored max before: found by
	// review, 2026-11-22).
	kib := make([]int64, len(s.bsamp))
	for i, b := range s.bsamp {
		kib[i] = b >> 10
	}
	f.BwMin, f.BwMax, mean, f.BwDev = sampleStats(kib)
	f.BwMean = mean
	f.BwSamples = len(s.bsamp)
	if f.BwSamples > 0 {
		f.BwAgg = 100
	}
	return f
}

// noTrim is the trim side: aio2 issues no trims.
var noTrim = newSideStats(false)

// runtimeMs is a run's time in fio's milliseconds: 0 without IOs, and at
// least 1 with some, so that runtime is never 0 next to a non-zero iops
// (fio, whose rates come from it, reports both 0 then).
func runtimeMs(elapsed time.Duration, ios int64) int64 {
	if ios == 0 {
		return 0
	}
	return max(elapsed.Milliseconds(), 1)
}

func writeJSON(w io.Writer, ri *runInfo, jobs []*jobResult) error {
	doc := fioDoc{
		FioVersion:  "aio2-" + version,
		Timestamp:   ri.start.Unix(),
		TimestampMs: ri.start.UnixMilli(),
		Time:        ri.start.Format(time.ANSIC),
	}
	for _, j := range jobs {
		fj := fioJob{
			Jobname: j.name,
			Groupid: 0,
			Elapsed: int64(math.Round(j.elapsed.Seconds())),
			// fio puts the options of a command-line job under the
			// job, not under "global options" (found by review,
			// 2026-11-22: tools reading jobs[0]["job options"]["rw"]
			// found nothing).
			JobOptions: ri.opts.fioOptions(),
			Read:       j.read.fio(j.elapsed),
			Write:      j.write.fio(j.elapsed),
			Trim:       noTrim.fio(0),
			JobRuntime: runtimeMs(j.elapsed, j.read.ios+j.write.ios),
			Ctx:        ri.ctx,
			Majf:       ri.majf,
			Minf:       ri.minf,
		}
		if s := ri.elapsed.Seconds(); s > 0 {
			fj.UsrCPU = 100 * ri.usrCPU.Seconds() / s
			fj.SysCPU = 100 * ri.sysCPU.Seconds() / s
		}
		fj.Error = j.errno()
		fj.Aio2 = &aio2Report{
			Ring:        j.ring,
			Interrupted: j.interrupted,
			Failed:      errString(j.failure),
			Errors:      j.read.errs + j.write.errs,
			Truncated:   j.attrs.truncated,
			UnknownIDs:  j.attrs.unknownIDs,
			Attrs:       j.attrs.report(),
		}
		if d := ri.device; d != nil {
			if e, ok := fj.Aio2.Attrs["device"]; ok {
				e.Probe = &probeCounts{Issues: d.Issues, Completes: d.Completes, Records: d.Records, Dropped: d.Dropped, NoStamp: d.NoStamp}
				fj.Aio2.Attrs["device"] = e
			}
		}
		doc.Jobs = append(doc.Jobs, fj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&doc)
}

// unitFor picks fio's display unit for a latency: nsec, usec or msec.
func unitFor(maxNs float64) (string, float64) {
	switch {
	case maxNs >= 10e6:
		return "msec", 1e6
	case maxNs >= 10e3:
		return "usec", 1e3
	}
	return "nsec", 1
}

func writeNormal(w io.Writer, ri *runInfo, jobs []*jobResult) {
	o := ri.opts
	batch := 0
	if len(jobs) > 0 {
		batch = jobs[0].ring.SubmitBatch // the same target, so the same in every job
	}
	fmt.Fprintf(w, "%s: (g=0): rw=%s, bs=%s, iodepth=%d, iodepth_batch_submit=%d, direct=%d, reaper=%s, attrs=%s, clocksource=%s\n",
		o.name, o.rw, humanBytes(float64(o.bs)), o.iodepth, batch, b2i(o.direct), o.reaper, strings.Join(attrNames(o.attrs), ","), cmdClock.name)
	if cmdClock.why != "" {
		fmt.Fprintf(w, "%s: clocksource=cpu not used: %s\n", o.name, cmdClock.why)
	}
	for _, j := range jobs {
		fmt.Fprintf(w, "%s: (groupid=0, jobs=%d): err=%2d: pid=%d%s\n", j.name, j.jobs, j.errno(),
			os.Getpid(), map[bool]string{true: " (interrupted)", false: ""}[j.interrupted])
		if j.failure != nil {
			fmt.Fprintf(w, "  failed       : %s\n", strings.ReplaceAll(j.failure.Error(), "\n", "; "))
		}
		for _, d := range []struct {
			name string
			s    *sideStats
		}{{"read", &j.read}, {"write", &j.write}} {
			if d.s.ios == 0 {
				continue
			}
			f := d.s.fio(j.elapsed)
			fmt.Fprintf(w, "  %s: IOPS=%s, BW=%s/s (%s/%dmsec)\n", d.name, humanCount(f.Iops),
				humanBytes(float64(f.BwBytes)), humanBytes(float64(f.IoBytes)), f.Runtime)
			if d.s.errs > 0 {
				fmt.Fprintf(w, "    errors: io_errors=%d of %d IOs, first error=%d (%s)\n", d.s.errs, d.s.ios,
					d.s.firstErr, syscall.Errno(d.s.firstErr).Error())
			}
			if f.LatNs.N == 0 {
				if o.reaper == "external" {
					fmt.Fprintf(w, "    latency: not measured here (another process reaped the events)\n")
				} else {
					fmt.Fprintf(w, "    latency: none (failed IOs are not timed)\n")
				}
				continue
			}
			for _, l := range []struct {
				name string
				v    fioLat
			}{{"slat", f.SlatNs}, {"clat", f.ClatNs}, {" lat", f.LatNs}} {
				u, div := unitFor(l.v.Mean)
				fmt.Fprintf(w, "    %s (%s): min=%s, max=%s, avg=%s, stdev=%s\n", l.name, u,
					fnum(float64(l.v.Min)/div), fnum(float64(l.v.Max)/div), fnum(l.v.Mean/div), fnum(l.v.Stddev/div))
			}
			writePercentiles(w, "clat", f.ClatNs)
		}
		if s := ri.elapsed.Seconds(); s > 0 {
			fmt.Fprintf(w, "  cpu          : usr=%.2f%%, sys=%.2f%%, ctx=%d, majf=%d, minf=%d (whole process)\n",
				100*ri.usrCPU.Seconds()/s, 100*ri.sysCPU.Seconds()/s, ri.ctx, ri.majf, ri.minf)
		}
		r := j.ring
		fmt.Fprintf(w, "  context      : version=%d, ring_bytes=%d, max_event_bytes=%d, max_inflight=%d, overflowed=%d\n",
			r.Version, r.RingBytes, r.MaxEventBytes, r.MaxInflight, r.Overflowed)
		writeAttrsNormal(w, j.attrs, ri.device)
	}
}

func writePercentiles(w io.Writer, what string, l fioLat) {
	if l.N == 0 {
		return
	}
	// Like fio, pick the unit so that the median has at least two
	// digits before the point: brackets hold whole numbers.
	u, div := unitFor(float64(l.Percentile[pctKey(50)]))
	fmt.Fprintf(w, "    %s percentiles (%s):\n", what, u)
	for i, p := range fioPercentiles {
		if i%4 == 0 {
			fmt.Fprint(w, "     |")
		}
		fmt.Fprintf(w, " %5.2fth=[%6.0f]", p, float64(l.Percentile[pctKey(p)])/div)
		if i%4 == 3 || i == len(fioPercentiles)-1 {
			fmt.Fprintln(w)
		} else {
			fmt.Fprint(w, ",")
		}
	}
}

func writeAttrsNormal(w io.Writer, a *attrStats, dev *attrs.DeviceCounters) {
	if len(a.asked) == 0 {
		return
	}
	fmt.Fprintln(w, "  attributes   :")
	for _, id := range a.asked {
		st := a.status[id]
		fmt.Fprintf(w, "    %-10s ok=%d unsupported=%d unavailable=%d error=%d", abi.AttrName(id), st[0], st[1], st[2], st[3])
		if st[4] > 0 {
			fmt.Fprintf(w, " MISSING=%d", st[4])
		}
		fmt.Fprintln(w)
		if id == abi.AttrDevice && dev != nil {
			fmt.Fprintf(w, "      eBPF, whole machine during the run: %d requests issued, %d completed; %d records, %d dropped (ring full), %d without an issue time\n",
				dev.Issues, dev.Completes, dev.Records, dev.Dropped, dev.NoStamp)
		}
		if st[0] == 0 {
			continue
		}
		switch id {
		case abi.AttrLatency:
			writeQuick(w, "submit to completion", a.latency)
		case abi.AttrTimestamps:
			writeQuick(w, "submit to issue", a.queue)
			writeQuick(w, "issue to completion", a.service)
		case abi.AttrDevice:
			writeQuick(w, "in the device", a.device)
			if a.deviceTotalNs > 0 {
				f := a.deviceNs / a.deviceTotalNs
				fmt.Fprintf(w, "      device time is %.1f%% of total time; software overhead %.1f%% (%d block requests)\n",
					100*f, 100*(1-f), a.deviceReqs)
			}
		case abi.AttrCache:
			t := a.cacheHit + a.cacheMiss
			r := 0.0
			if t > 0 {
				r = 100 * float64(a.cacheHit) / float64(t)
			}
			fmt.Fprintf(w, "      page cache hit ratio %.1f%% (%d pages hit, %d missed)\n", r, a.cacheHit, a.cacheMiss)
		case abi.AttrCPU:
			var parts []string
			for c, n := range a.cpuCompl {
				if n > 0 {
					parts = append(parts, fmt.Sprintf("cpu%d=%d", c, n))
				}
			}
			if a.cpuBeyond > 0 {
				parts = append(parts, fmt.Sprintf("cpu>=%d: %d", maxCPUs, a.cpuBeyond))
			}
			same := 0.0
			if a.cpuOK > 0 {
				same = 100 * float64(a.sameCPU) / float64(a.cpuOK)
			}
			fmt.Fprintf(w, "      completions by cpu: %s; completed on the submitting cpu: %.1f%%\n", strings.Join(parts, " "), same)
		case abi.AttrTag:
			fmt.Fprintf(w, "      echoed intact %d, mismatched %d\n", a.tagOK, a.tagBad)
		}
	}
	if a.truncated > 0 {
		fmt.Fprintf(w, "    %d events had attributes truncated to fit max_event_bytes\n", a.truncated)
	}
}

func writeQuick(w io.Writer, what string, h *latHist) {
	l := h.fio(true)
	u, div := unitFor(float64(l.Percentile[pctKey(50)]))
	fmt.Fprintf(w, "      %s (%s): avg=%s p50=%s p99=%s p99.9=%s max=%s\n", what, u, fnum(l.Mean/div),
		fnum(float64(l.Percentile[pctKey(50)])/div), fnum(float64(l.Percentile[pctKey(99)])/div),
		fnum(float64(l.Percentile[pctKey(99.9)])/div), fnum(float64(l.Max)/div))
}

// fnum prints a number the way fio does: integers as integers, others
// with two decimals.
func fnum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatInt(int64(v), 10)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func attrNames(ids []uint16) []string {
	if len(ids) == 0 {
		return []string{"none"}
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = abi.AttrName(id)
	}
	return out
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// errString is err's message, or "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
