package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestRecorderJSONAndEMF(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 11, 22, 15, 59, 0, 0, time.UTC) // 23:59 in China
	r := &Recorder{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Now: func() time.Time { return now }}
	r.Call(context.Background(), "wechat", OutcomeOK)
	r.Call(context.Background(), "wechat", OutcomeOK)
	now = now.Add(2 * time.Minute) // next day in China: counters restart
	r.Call(context.Background(), "wechat", OutcomeOK)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{`"day":"2026-11-22","dailyCount":1`, `"day":"2026-11-22","dailyCount":2`, `"day":"2026-11-23","dailyCount":1`}
	for i, w := range want {
		if !strings.Contains(lines[i], w) || !strings.Contains(lines[i], `"provider":"wechat","outcome":"ok"`) {
			t.Errorf("line %d: %s", i, lines[i])
		}
	}

	buf.Reset()
	r = &Recorder{Logger: slog.New(slog.NewJSONHandler(&buf, nil)), Format: FormatEMF, Now: func() time.Time { return now }}
	r.Call(context.Background(), "webank", OutcomeQuota)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	aws, _ := m["_aws"].(map[string]any)
	cw, _ := aws["CloudWatchMetrics"].([]any)
	if aws["Timestamp"] != float64(now.UnixMilli()) || len(cw) != 1 || m["Calls"] != float64(1) || m["Provider"] != "webank" || m["Outcome"] != "quota" {
		t.Fatalf("EMF line: %s", buf.String())
	}
	d := cw[0].(map[string]any)
	if d["Namespace"] != "cardocr" || !strings.Contains(buf.String(), `"Dimensions":[["Provider","Outcome"],["Provider"]]`) ||
		!strings.Contains(buf.String(), `"Metrics":[{"Name":"Calls","Unit":"Count"}]`) {
		t.Errorf("EMF directive: %s", buf.String())
	}
}

func TestDailyLimit(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	l := &DailyLimit{Limit: 2, Now: func() time.Time { return now }}
	for i, want := range []bool{true, true, false} {
		if got := l.Take(); got != want {
			t.Fatalf("take %d: %v", i, got)
		}
	}
	l.Give()
	if got := l.Take(); !got {
		t.Fatal("after Give")
	}
	if got := l.Take(); got {
		t.Fatal("over the limit after Give")
	}
	now = now.Add(24 * time.Hour)
	if !l.Take() || l.Used() != 1 {
		t.Fatal("next day")
	}
	var off *DailyLimit
	if !off.Take() || !(&DailyLimit{}).Take() {
		t.Fatal("no limit")
	}
}
