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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
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

// Send is PublishCmqMsg.
func (q *Queue) Send(ctx context.Context, body []byte, delay time.Duration) error {
	if delay > 0 {
		return ErrNoDelay
	}
	creds := q.Credentials
	if creds == nil {
		creds = tc3.EnvCredentials
	}
	id, key, token, err := creds()
	if err != nil {
		return err
	}
	payload, _ := json.Marshal(map[string]any{"TopicName": q.Name, "MsgContent": string(body)})
	resp, err := tc3.Call(ctx, tc3.Action{Service: "tdmq", Name: "PublishCmqMsg", Version: "2020-02-17", Region: q.Region,
		Endpoint: q.Endpoint, ID: id, Key: key, Token: token, Client: q.Client}, payload)
	if err != nil {
		return fmt.Errorf("queue: cmq: %w", err)
	}
	var out struct{ Result bool }
	if json.Unmarshal(resp, &out) != nil || !out.Result {
		return errors.New("queue: cmq: tdmq PublishCmqMsg: not sent (Result false)")
	}
	return nil
}
