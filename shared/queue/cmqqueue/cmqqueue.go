// Package cmqqueue publishes to the TDMQ CMQ topic that triggers
// resultfetch on SCF, with the API 3.0 action PublishCmqMsg
// (https://cloud.tencent.com/document/product/1179/55920), signed with
// TC3-HMAC-SHA256 (package tc3). Importing it registers
// cmq://<topic-name>?region=…[&endpoint=…]. Credentials are SCF's
// environment. Permission: tdmq:PublishCmqMsg on the topic.
//
// A topic message takes no delay (the action has no such parameter): a
// delayed send is refused with ErrNoDelay, and a failed callback is then
// retried by the trigger's own retry policy instead of the backoff.
package cmqqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/queue"
	"github.com/cardocr/cardocr/shared/tc3"
)

func init() { queue.Register("cmq", open) }

// ErrNoDelay: CMQ topics deliver at once.
var ErrNoDelay = errors.New("queue: cmq: a topic message takes no delay; the trigger's retries stand in for the backoff")

// Queue is one CMQ topic.
type Queue struct {
	Name, Region string
	Endpoint     string // base URL; default https://tdmq.tencentcloudapi.com
	Client       *http.Client
	// Credentials returns (id, key, token) for each call (default: the
	// environment SCF sets).
	Credentials func() (id, key, token string, err error)
}

func open(u *url.URL) (queue.Sender, error) {
	q := &Queue{Name: u.Host, Region: u.Query().Get("region"), Endpoint: u.Query().Get("endpoint")}
	if q.Region == "" {
		q.Region = os.Getenv("TENCENTCLOUD_REGION")
	}
	if q.Region == "" {
		return nil, errors.New("queue: cmq: no region (?region=)")
	}
	return q, nil
}

func envCredentials() (string, string, string, error) {
	id, key := os.Getenv("TENCENTCLOUD_SECRETID"), os.Getenv("TENCENTCLOUD_SECRETKEY")
	if id == "" || key == "" {
		return "", "", "", errors.New("queue: cmq: TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY are not set")
	}
	return id, key, os.Getenv("TENCENTCLOUD_SESSIONTOKEN"), nil
}

// Send is PublishCmqMsg.
func (q *Queue) Send(ctx context.Context, body []byte, delay time.Duration) error {
	if delay > 0 {
		return ErrNoDelay
	}
	creds := q.Credentials
	if creds == nil {
		creds = envCredentials
	}
	id, key, token, err := creds()
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(map[string]any{"TopicName": q.Name, "MsgContent": string(body)})
	base := q.Endpoint
	if base == "" {
		base = "https://tdmq.tencentcloudapi.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/", bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("queue: cmq: %w", err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-TC-Action", "PublishCmqMsg")
	req.Header.Set("X-TC-Version", "2020-02-17")
	req.Header.Set("X-TC-Region", q.Region)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	if token != "" {
		req.Header.Set("X-TC-Token", token)
	}
	signed := []string{"content-type", "host"}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+id+"/"+date+"/tdmq/tc3_request, SignedHeaders="+
		strings.Join(signed, ";")+", Signature="+tc3.Signature(req, payload, signed, ts, "tdmq", key))
	hc := q.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("queue: cmq PublishCmqMsg: %w", err)
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Result bool
			Error  *struct{ Code string } `json:"Error"`
		} `json:"Response"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("queue: cmq PublishCmqMsg: HTTP %d, unreadable answer", resp.StatusCode)
	}
	if out.Response.Error != nil {
		return fmt.Errorf("queue: cmq PublishCmqMsg: %s", out.Response.Error.Code)
	}
	if !out.Response.Result {
		return errors.New("queue: cmq PublishCmqMsg: not sent (Result false)")
	}
	return nil
}
