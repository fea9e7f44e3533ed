// Package dynamoquota is the DynamoDB backend of the quota store (AWS).
// Importing it registers dynamodb://TABLE[?region=…&endpoint=…]. One day's
// counts are one item, {pk: <day>, t_<tenant>: n, total: n, expiresAt},
// changed by one UpdateItem: ADD of both counts with a condition on both
// limits, so the check and the increments are atomic in one round trip.
// expiresAt (epoch seconds, two days after the day) is the table's TTL
// attribute. Credentials: Lambda's environment, read at every call.
//
// The four calls (UpdateItem, GetItem, PutItem) go over DynamoDB's JSON
// protocol (https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/Programming.LowLevelAPI.html),
// signed by the AWS SDK's Signature Version 4 signer: the DynamoDB client
// package is not linked (its schema tables cost every HTTP function's
// cold start 0.6 ms and 1.5 MB). Its tests run against dynalite, an
// independent DynamoDB implementation.
package dynamoquota

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/awsreq"
	"github.com/cardocr/cardocr/shared/quota"
)

func init() { quota.Register("dynamodb", open) }

// Store is a quota.Store on a DynamoDB table whose partition key is "pk"
// (a string).
type Store struct {
	table, region, endpoint string
	hc                      *http.Client
}

func open(_ context.Context, u *url.URL) (quota.Store, error) {
	q := u.Query()
	region := q.Get("region")
	if region == "" {
		region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if u.Host == "" || region == "" {
		return nil, errors.New("quota: dynamodb://TABLE needs a table and a region (?region= or AWS_REGION)")
	}
	endpoint := q.Get("endpoint")
	if endpoint == "" {
		endpoint = firstEnv("AWS_ENDPOINT_URL_DYNAMODB")
	}
	if endpoint == "" {
		endpoint = "https://dynamodb." + region + ".amazonaws.com"
		if strings.HasPrefix(region, "cn-") {
			endpoint += ".cn"
		}
	}
	return &Store{table: u.Host, region: region, endpoint: strings.TrimRight(endpoint, "/") + "/",
		hc: &http.Client{Timeout: 5 * time.Second}}, nil
}

// attr is a DynamoDB attribute value: a string (S) or a number (N).
type attr map[string]string

func s(v string) attr { return attr{"S": v} }
func n(v string) attr { return attr{"N": v} }

// errConditionFailed is ConditionalCheckFailedException.
var errConditionFailed = errors.New("quota: dynamodb: the condition failed")

// call sends one action and decodes its answer into out (nil: ignored).
func (st *Store) call(ctx context.Context, action string, in, out any) error {
	creds, err := awsreq.EnvCredentials()
	if err != nil {
		return fmt.Errorf("quota: dynamodb: %w", err)
	}
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("quota: dynamodb: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+action)
	a, err := awsreq.Send(ctx, st.hc, req, body, "dynamodb", st.region, creds, 1<<20)
	if err != nil {
		return fmt.Errorf("quota: dynamodb %s: %w", action, err)
	}
	if a.Status != http.StatusOK {
		t := awsreq.ErrorType(a.Body)
		if t == "ConditionalCheckFailedException" {
			return errConditionFailed
		}
		return fmt.Errorf("quota: dynamodb %s: HTTP %d %s", action, a.Status, t)
	}
	if out != nil {
		if err := json.Unmarshal(a.Body, out); err != nil {
			return fmt.Errorf("quota: dynamodb %s: unreadable answer", action)
		}
	}
	return nil
}

func expires(day string) string {
	t, err := time.Parse("2006-01-02", day)
	if err != nil {
		t = time.Now()
	}
	return strconv.FormatInt(t.AddDate(0, 0, 3).Unix(), 10)
}

func (st *Store) Reserve(ctx context.Context, day string, c quota.Counters) (bool, error) {
	var cond []string
	vals := map[string]attr{":one": n("1"), ":exp": n(expires(day))}
	if c.TenantLimit > 0 {
		cond = append(cond, "(attribute_not_exists(#t) OR #t < :tl)")
		vals[":tl"] = n(strconv.FormatInt(c.TenantLimit, 10))
	}
	if c.TotalLimit > 0 {
		cond = append(cond, "(attribute_not_exists(#n) OR #n < :cap)")
		vals[":cap"] = n(strconv.FormatInt(c.TotalLimit, 10))
	}
	in := map[string]any{
		"TableName":                 st.table,
		"Key":                       map[string]attr{"pk": s(day)},
		"UpdateExpression":          "ADD #t :one, #n :one SET expiresAt = :exp",
		"ExpressionAttributeNames":  map[string]string{"#t": "t_" + c.Tenant, "#n": "total"},
		"ExpressionAttributeValues": vals,
	}
	if len(cond) > 0 {
		in["ConditionExpression"] = strings.Join(cond, " AND ")
	}
	switch err := st.call(ctx, "UpdateItem", in, nil); {
	case err == nil:
		return true, nil
	case errors.Is(err, errConditionFailed):
		return false, nil
	default:
		return false, err
	}
}

func (st *Store) Release(ctx context.Context, day string, c quota.Counters) error {
	err := st.call(ctx, "UpdateItem", map[string]any{
		"TableName":                 st.table,
		"Key":                       map[string]attr{"pk": s(day)},
		"UpdateExpression":          "ADD #t :minus, #n :minus",
		"ConditionExpression":       "#t > :zero AND #n > :zero",
		"ExpressionAttributeNames":  map[string]string{"#t": "t_" + c.Tenant, "#n": "total"},
		"ExpressionAttributeValues": map[string]attr{":minus": n("-1"), ":zero": n("0")},
	}, nil)
	if err != nil && !errors.Is(err, errConditionFailed) {
		return err
	}
	return nil
}

// getItem reads an item's attributes (none: an empty map).
func (st *Store) getItem(ctx context.Context, pk string) (map[string]attr, error) {
	var out struct{ Item map[string]attr }
	err := st.call(ctx, "GetItem", map[string]any{"TableName": st.table, "ConsistentRead": true, "Key": map[string]attr{"pk": s(pk)}}, &out)
	return out.Item, err
}

func (st *Store) Counts(ctx context.Context, day string) (map[string]int64, error) {
	item, err := st.getItem(ctx, day)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for k, v := range item {
		num, ok := v["N"]
		if !ok || k == "expiresAt" {
			continue
		}
		x, _ := strconv.ParseInt(num, 10, 64)
		if k == "total" {
			m[""] = x
		} else {
			m[strings.TrimPrefix(k, "t_")] = x
		}
	}
	return m, nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// Suspend writes the provider's flag (the table's TTL removes it later).
func (st *Store) Suspend(ctx context.Context, provider, reason string, until time.Time) error {
	return st.call(ctx, "PutItem", map[string]any{"TableName": st.table, "Item": map[string]attr{
		"pk":        s("suspended#" + provider),
		"reason":    s(reason),
		"until":     n(strconv.FormatInt(until.UnixMilli(), 10)),
		"expiresAt": n(strconv.FormatInt(until.Add(time.Hour).Unix(), 10)),
	}}, nil)
}

// Suspension reads the provider's flag.
func (st *Store) Suspension(ctx context.Context, provider string) (string, time.Time, error) {
	item, err := st.getItem(ctx, "suspended#"+provider)
	if err != nil {
		return "", time.Time{}, err
	}
	r, okR := item["reason"]["S"]
	u, okU := item["until"]["N"]
	if !okR || !okU {
		return "", time.Time{}, nil
	}
	ms, _ := strconv.ParseInt(u, 10, 64)
	return r, time.UnixMilli(ms), nil
}
