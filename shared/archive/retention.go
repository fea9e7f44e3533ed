package archive

import (
	"context"
	"fmt"
	"path"
	"strings"
	"time"
)

// Retention (PIPL art. 19: kept no longer than the purpose needs). One
// rule set, written once here, is what every store enforces: S3 and COS by
// lifecycle rules (template.yaml; cmd/cosbucket sends these to COS), the
// file archive by Sweep on make run's timer.

// DefaultRetentionDays is how long evidence is kept (RETENTION_DAYS).
const DefaultRetentionDays = 180

// DefaultAuditRetentionDays is how long erasure audit records are kept
// (about three years: an operator must be able to show what was erased).
const DefaultAuditRetentionDays = 1096

// UploadRetentionDays bounds an uploaded photo's life: resultfetch deletes
// it once its order is archived; this is the safety net.
const UploadRetentionDays = 1

// Rule expires the objects under Prefix (relative to the bucket) Days after
// they were written.
type Rule struct {
	ID     string
	Prefix string
	Days   int
}

// RetentionRules are the lifecycle rules of a bucket whose archive lives
// under prefix (ARCHIVE_URL's path) and whose uploads live under uploads/.
func RetentionRules(prefix string, days, auditDays int) []Rule {
	p := strings.Trim(prefix, "/")
	if p != "" {
		p += "/"
	}
	rules := []Rule{{ID: "uploads", Prefix: "uploads/", Days: UploadRetentionDays}}
	for _, sub := range []string{KindIDCard, KindBankCard, TenantsDir, "_done", "_pending", "_orders", "_rejected", "_callbacks"} {
		rules = append(rules, Rule{ID: "evidence-" + strings.TrimPrefix(sub, "_"), Prefix: p + sub + "/", Days: days})
	}
	return append(rules, Rule{ID: "audit", Prefix: p + "_audit/", Days: auditDays})
}

// Sweep deletes what the rules expire from a bucket that has no lifecycle
// of its own (the file archive), judging an object's age by the day in its
// key where it has one (results and photos) and else by the marker or
// record's own time. It returns how many objects went.
func (a *Archive) Sweep(ctx context.Context, days, auditDays int) (int, error) {
	now := a.now()
	n := 0
	for _, r := range RetentionRules(a.Prefix, days, auditDays) {
		if r.Prefix == "uploads/" {
			continue // not in the archive's bucket (SweepUploads)
		}
		keys, err := a.Bucket.List(ctx, r.Prefix)
		if err != nil {
			return n, err
		}
		cutoff := now.AddDate(0, 0, -r.Days)
		for _, k := range keys {
			if k == a.AuditSaltKey() {
				continue
			}
			rel := strings.TrimPrefix(k, r.Prefix)
			if strings.HasSuffix(r.Prefix, TenantsDir+"/") {
				// {tenant}/{kind}/yyyy/mm/dd/…
				if parts := strings.SplitN(rel, "/", 3); len(parts) == 3 {
					rel = parts[2]
				}
			}
			at, ok := dayOf(rel)
			if !ok {
				info, err := a.Bucket.Stat(ctx, k)
				if err != nil {
					continue
				}
				if at, ok = info.Modified, !info.Modified.IsZero(); !ok {
					continue
				}
			}
			if at.Before(cutoff) {
				if err := a.Bucket.Delete(ctx, k); err != nil {
					return n, fmt.Errorf("archive: sweep: %w", err)
				}
				n++
			}
		}
	}
	return n, nil
}

// SweepUploads deletes uploads older than UploadRetentionDays from b.
func SweepUploads(ctx context.Context, b Bucket, now time.Time) (int, error) {
	keys, err := b.List(ctx, "uploads/")
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		info, err := b.Stat(ctx, k)
		if err != nil || info.Modified.IsZero() || !info.Modified.Before(now.AddDate(0, 0, -UploadRetentionDays)) {
			continue
		}
		if err := b.Delete(ctx, k); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// dayOf reads the China date a key starts with (yyyy/mm/dd/…), as the
// layout writes results, photos and audit records; the end of that day.
func dayOf(rest string) (time.Time, bool) {
	parts := strings.SplitN(rest, "/", 4)
	if len(parts) < 4 {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation("2006/01/02", path.Join(parts[0], parts[1], parts[2]), cst)
	if err != nil {
		return time.Time{}, false
	}
	return t.AddDate(0, 0, 1), true
}
