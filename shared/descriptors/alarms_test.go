package descriptors

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/cardocr/cardocr/shared/metrics"

	"gopkg.in/yaml.v3"
)

// The concurrency cap each HTTP function runs under is the one its
// instances divide the rates by: ReservedConcurrentExecutions and
// CONCURRENCY_CAP come from the same parameter.
func TestSAMConcurrencyCaps(t *testing.T) {
	s := loadSAM(t)
	if p := s.params["ApiConcurrencyCap"]; p == nil || str(get(p, "Type")) != "Number" || str(get(p, "Default")) == "0" {
		t.Fatal("ApiConcurrencyCap: a Number parameter with a cap by default")
	}
	if !s.conditions["HasConcurrencyCap"] {
		t.Fatal("no HasConcurrencyCap condition (ApiConcurrencyCap 0: no reservation)")
	}
	for _, f := range s.functions {
		if f.kind != kindHTTP {
			continue
		}
		rc := get(f.props, "ReservedConcurrentExecutions")
		args := items(rc)
		if rc == nil || rc.Tag != "!If" || len(args) != 3 || str(args[0]) != "HasConcurrencyCap" || refTo(args[1]) != "ApiConcurrencyCap" || refTo(args[2]) != "AWS::NoValue" {
			t.Errorf("%s: ReservedConcurrentExecutions must be !If [HasConcurrencyCap, !Ref ApiConcurrencyCap, !Ref AWS::NoValue]", f.id)
		}
		if tag, v := tagged(f.env["CONCURRENCY_CAP"]); tag != "!Sub" || v != "${ApiConcurrencyCap}" {
			t.Errorf("%s: CONCURRENCY_CAP must be !Sub \"${ApiConcurrencyCap}\", got %s %q", f.id, tag, v)
		}
	}
}

// The alarms an operator acts on: spend near the cap, 5xx rate, dead
// letters, refresher failures, a suspended provider. Each notifies the
// optional topic; the EMF metric names are the ones the code writes.
func TestSAMAlarms(t *testing.T) {
	s := loadSAM(t)
	// The EMF record the code writes for a billable call: metric Billable
	// with a dimension set of its own for the total (what the alarm reads).
	var emf bytes.Buffer
	(&metrics.Recorder{Logger: slog.New(slog.NewJSONHandler(&emf, nil)), Format: metrics.FormatEMF}).Billable(context.Background(), "t", "p")
	writesBillable := strings.Contains(emf.String(), `"Metrics":[{"Name":"Billable","Unit":"Count"}]`) &&
		strings.Contains(emf.String(), `,[]]`)
	breakerSrc := readFile(t, "shared/quota/breaker.go")
	found := map[string]string{} // what → alarm id
	for id, r := range s.resources {
		if str(get(r, "Type")) != "AWS::CloudWatch::Alarm" {
			continue
		}
		p := get(r, "Properties")
		acts := get(p, "AlarmActions")
		args := items(acts)
		if acts == nil || acts.Tag != "!If" || len(args) != 3 || str(args[0]) != "HasAlarmTopic" || refTo(args[2]) != "AWS::NoValue" {
			t.Errorf("%s: AlarmActions must be !If [HasAlarmTopic, [!Ref AlarmTopicArn], !Ref AWS::NoValue]", id)
		}
		if str(get(p, "TreatMissingData")) != "notBreaching" {
			t.Errorf("%s: TreatMissingData must be notBreaching (no traffic is no trouble)", id)
		}
		// A single metric, or metric math over several.
		type metric struct {
			ns, name string
			nsNode   *yaml.Node
			dims     map[string]*yaml.Node
		}
		var ms []metric
		if name := str(get(p, "MetricName")); name != "" {
			ms = append(ms, metric{str(get(p, "Namespace")), name, get(p, "Namespace"), dimsOf(get(p, "Dimensions"))})
		}
		for _, m := range items(get(p, "Metrics")) {
			if stat := path(m, "MetricStat", "Metric"); stat != nil {
				ms = append(ms, metric{str(get(stat, "Namespace")), str(get(stat, "MetricName")), get(stat, "Namespace"), dimsOf(get(stat, "Dimensions"))})
			}
		}
		for _, m := range ms {
			switch {
			case m.name == "Billable":
				checkNamespace(t, id, s, m.nsNode)
				if !writesBillable {
					t.Errorf("%s: the code writes no Billable metric in all (EMF: %s)", id, emf.String())
				}
				if str(get(r, "Condition")) != "HasSpendCap" {
					t.Errorf("%s: the spend alarm exists only with a DailySpendCap (Condition: HasSpendCap)", id)
				}
				expr := ""
				for _, m := range items(get(p, "Metrics")) {
					if _, v := tagged(get(m, "Expression")); v != "" {
						expr = v
					}
				}
				if !strings.Contains(expr, "${DailySpendCap}") || str(get(p, "Threshold")) != "80" {
					t.Errorf("%s: must compare billable calls with 80%% of DailySpendCap (expression %q)", id, expr)
				}
				found["spend"] = id
			case m.name == "provider_suspended":
				checkNamespace(t, id, s, m.nsNode)
				if !strings.Contains(breakerSrc, `"provider_suspended"`) {
					t.Errorf("%s: the code writes no provider_suspended metric", id)
				}
				found["suspended"] = id
			case m.ns == "AWS/ApiGateway" && m.name == "5xx":
				if refTo(m.dims["ApiId"]) != "HttpApi" {
					t.Errorf("%s: 5xx of another API", id)
				}
				found["5xx"] = id
			case m.ns == "AWS/SQS" && m.name == "ApproximateNumberOfMessagesVisible":
				if res, attr := getAttOf(m.dims["QueueName"]); res != "ResultFetchDeadLetterQueue" || attr != "QueueName" {
					t.Errorf("%s: must watch the dead-letter queue", id)
				}
				found["dlq"] = id
			case m.ns == "AWS/Lambda" && m.name == "Errors":
				if refTo(m.dims["FunctionName"]) != "TicketRefreshFunction" {
					t.Errorf("%s: must watch the refresher", id)
				}
				found["refresher"] = id
			}
		}
	}
	for _, want := range []string{"spend", "5xx", "dlq", "refresher", "suspended"} {
		if found[want] == "" {
			t.Errorf("no %s alarm", want)
		}
	}
}

// dimsOf maps an alarm's Dimensions list by name.
func dimsOf(n *yaml.Node) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for _, d := range items(n) {
		out[str(get(d, "Name"))] = get(d, "Value")
	}
	return out
}

// checkNamespace: an alarm on the functions' own metrics reads the
// namespace every function writes them to (Globals' METRICS_NAMESPACE).
func checkNamespace(t *testing.T, id string, s *samTemplate, ns *yaml.Node) {
	t.Helper()
	want := path(s.root, "Globals", "Function", "Environment", "Variables", "METRICS_NAMESPACE")
	wt, wv := tagged(want)
	gt, gv := tagged(ns)
	if want == nil || wt != gt || wv != gv || !strings.Contains(wv, "${AWS::StackName}") {
		t.Errorf("%s: namespace %s %q; the functions write to %s %q (one per stack)", id, gt, gv, wt, wv)
	}
}
