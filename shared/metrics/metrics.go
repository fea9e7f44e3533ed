// Package metrics writes call counters to the logs: one line per upstream
// call with its provider and outcome, as a CloudWatch embedded metric
// format (EMF) document on AWS Lambda (CloudWatch sums "Calls" per day and
// dimension across every instance) and as a plain JSON line elsewhere.
// Every line also carries this instance's running count for the day.
//
// It also holds DailyLimit, the optional local quota guard. Both are per
// instance: nothing here writes to a shared store on the request path.
package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Formats of the metric lines.
const (
	FormatJSON = "json"
	FormatEMF  = "emf"
)

// Outcomes of an upstream call.
const (
	OutcomeOK           = "ok"
	OutcomeRejected     = "rejected"      // the upstream answered with an error code
	OutcomeQuota        = "quota"         // the upstream's quota ran out
	OutcomeLocalQuota   = "local_quota"   // refused by DAILY_QUOTA_* before any call
	OutcomeSideMismatch = "side_mismatch" // recognized, but not the side asked for
	OutcomeError        = "error"         // transport failure, timeout, bad answer
)

// China Standard Time: WeChat's daily quotas follow its calendar day.
var cst = time.FixedZone("CST", 8*3600)

// Day returns t's calendar day in China, YYYY-MM-DD.
func Day(t time.Time) string { return t.In(cst).Format("2006-01-02") }

// Recorder writes the counter lines. The zero value logs plain JSON lines
// to slog.Default. It is safe for concurrent use.
type Recorder struct {
	Logger    *slog.Logger
	Format    string // FormatJSON (default) or FormatEMF
	Namespace string // CloudWatch namespace, default "cardocr"
	Now       func() time.Time

	mu     sync.Mutex
	day    string
	counts map[[2]string]int64
}

// count adds one to today's counter of key and returns the time, the day,
// the counter, the logger and (for EMF) the namespace.
func (r *Recorder) count(key [2]string) (now time.Time, day string, n int64, log *slog.Logger, ns string) {
	now = time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	day = Day(now)
	r.mu.Lock()
	if day != r.day || r.counts == nil {
		r.day, r.counts = day, map[[2]string]int64{}
	}
	r.counts[key]++
	n = r.counts[key]
	r.mu.Unlock()
	log = r.Logger
	if log == nil {
		log = slog.Default()
	}
	ns = r.Namespace
	if ns == "" {
		ns = "cardocr"
	}
	return now, day, n, log, ns
}

// Call counts one call of provider with outcome and writes its line.
func (r *Recorder) Call(ctx context.Context, provider, outcome string) {
	r.write(ctx, [2]string{provider, outcome}, "Calls", "upstream_calls",
		[]dim{{"Provider", "provider", provider}, {"Outcome", "outcome", outcome}},
		[][]string{{"Provider", "Outcome"}, {"Provider"}}, nil)
}

// Billable counts one billable upstream call of a tenant (a call that
// reached the provider: the ones the quota store keeps) and writes its
// line: EMF metric Billable by Tenant and Provider, by Provider, and in
// all (the spend-cap alarm's series) on Lambda; else a JSON line
// {"metric":"billable_calls","tenant":…,"provider":…} that CLS can chart.
// Tenant ids are the operator's names, never personal data.
func (r *Recorder) Billable(ctx context.Context, tenant, provider string) {
	r.write(ctx, [2]string{"billable:" + tenant, provider}, "Billable", "billable_calls",
		[]dim{{"Tenant", "tenant", tenant}, {"Provider", "provider", provider}},
		[][]string{{"Tenant", "Provider"}, {"Provider"}, {}}, nil)
}

// Event counts one occurrence of an event other than an upstream call
// (metric "photos_missing", "selfcheck", …) with its outcome, and writes
// its line: EMF metric <metric> by Outcome (and in all, for alarms) on
// Lambda, else a JSON line {"metric":<metric>,"outcome":…}. Counts keys it
// "<metric>:/<outcome>".
//
// attrs are written on the line too (the cause of a selfcheck, say): they
// describe the occurrence and are never dimensions.
func (r *Recorder) Event(ctx context.Context, metric, outcome string, attrs ...slog.Attr) {
	r.write(ctx, [2]string{metric + ":", outcome}, metric, metric,
		[]dim{{"Outcome", "outcome", outcome}}, [][]string{{"Outcome"}, {}}, attrs)
}

// dim is one dimension of a line: its EMF name, its JSON key, its value.
type dim struct{ emf, json, value string }

// write counts key and writes one line: on Lambda an EMF record of metric
// name with the dimension sets, else {"metric":jsonName, …} with the
// dimensions under their JSON keys. Both carry the China day and this
// instance's count of the day.
func (r *Recorder) write(ctx context.Context, key [2]string, name, jsonName string, dims []dim, sets [][]string, attrs []slog.Attr) {
	if r == nil {
		return
	}
	now, day, n, log, ns := r.count(key)
	line := make([]slog.Attr, 0, len(dims)+len(attrs)+4)
	if r.Format == FormatEMF {
		line = append(line, slog.Any("_aws", emfMeta{
			Timestamp: now.UnixMilli(),
			CloudWatchMetrics: []emfDirective{{
				Namespace:  ns,
				Dimensions: sets,
				Metrics:    []emfMetric{{Name: name, Unit: "Count"}},
			}},
		}))
		for _, d := range dims {
			line = append(line, slog.String(d.emf, d.value))
		}
		line = append(line, slog.Int(name, 1))
	} else {
		line = append(line, slog.String("metric", jsonName))
		for _, d := range dims {
			line = append(line, slog.String(d.json, d.value))
		}
	}
	line = append(line, slog.String("day", day), slog.Int64("dailyCount", n))
	log.LogAttrs(ctx, slog.LevelInfo, "metric", append(line, attrs...)...)
}

// Counts returns this instance's counts for today, keyed "provider/outcome".
func (r *Recorder) Counts() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int64, len(r.counts))
	for k, v := range r.counts {
		out[k[0]+"/"+k[1]] = v
	}
	return out
}

type emfMeta struct {
	Timestamp         int64          `json:"Timestamp"`
	CloudWatchMetrics []emfDirective `json:"CloudWatchMetrics"`
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// DailyLimit allows at most Limit calls per calendar day (China time) in
// this instance. A nil *DailyLimit, or Limit <= 0, allows everything.
//
// It is per instance: with N warm instances up to N×Limit calls can pass
// in a day. It exists to stop this instance from spending past a budget,
// answering quota_exceeded before the upstream does; the upstream's own
// quota answer remains the authority.
type DailyLimit struct {
	Limit int
	Now   func() time.Time

	mu   sync.Mutex
	day  string
	used int
}

func (l *DailyLimit) roll() {
	now := time.Now()
	if l.Now != nil {
		now = l.Now()
	}
	if d := Day(now); d != l.day {
		l.day, l.used = d, 0
	}
}

// Take reserves one call; false means today's limit is reached.
func (l *DailyLimit) Take() bool {
	if l == nil || l.Limit <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	if l.used >= l.Limit {
		return false
	}
	l.used++
	return true
}

// Give returns a reservation whose call was not billed (it never reached
// the upstream, or the upstream refused the credentials).
func (l *DailyLimit) Give() {
	if l == nil || l.Limit <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	if l.used > 0 {
		l.used--
	}
}

// Used returns today's reserved calls.
func (l *DailyLimit) Used() int {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.roll()
	return l.used
}
