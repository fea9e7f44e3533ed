// Package sqsqueue sends SQS messages with SendMessage over the AWS JSON
// protocol (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html),
// signed by the AWS SDK's Signature Version 4 signer; the SQS client
// package is not linked. Importing it registers
// sqs://sqs.<region>.amazonaws.com/<account>/<name>[?endpoint=…].
// Credentials are Lambda's environment. Permission: sqs:SendMessage on the
// queue (and kms:GenerateDataKey on its key).
package sqsqueue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardocr/cardocr/shared/awsreq"
	"github.com/cardocr/cardocr/shared/queue"
)

func init() { queue.Register("sqs", open) }

// Queue is one SQS queue.
type Queue struct {
	URL      string // https://sqs.<region>.amazonaws.com/<account>/<name>
	Region   string
	Endpoint string // where requests go; default the queue URL's host
	Client   *http.Client
	// Credentials for each call (default: the environment Lambda sets).
	Credentials func() (aws.Credentials, error)
}

func open(u *url.URL) (queue.Sender, error) {
	host := u.Host
	// sqs.<region>.amazonaws.com, or .amazonaws.com.cn in China.
	rest, ok := strings.CutPrefix(host, "sqs.")
	region, suffix, _ := strings.Cut(rest, ".")
	if !ok || region == "" || suffix != "amazonaws.com" && suffix != "amazonaws.com.cn" || strings.Count(strings.Trim(u.Path, "/"), "/") != 1 {
		return nil, errors.New("queue: sqs: the URL must be sqs://sqs.<region>.amazonaws.com/<account>/<name>")
	}
	return &Queue{URL: "https://" + host + u.Path, Region: region, Endpoint: u.Query().Get("endpoint")}, nil
}

// Send is SendMessage with DelaySeconds (at most 900, SQS's limit).
func (q *Queue) Send(ctx context.Context, body []byte, delay time.Duration) error {
	creds := q.Credentials
	if creds == nil {
		creds = awsreq.EnvCredentials
	}
	c, err := creds()
	if err != nil {
		return err
	}
	secs := min(int64(delay.Round(time.Second)/time.Second), 900)
	payload, _ := json.Marshal(map[string]any{"QueueUrl": q.URL, "MessageBody": string(body), "DelaySeconds": secs})
	endpoint := q.Endpoint
	if endpoint == "" {
		u, _ := url.Parse(q.URL)
		endpoint = "https://" + u.Host
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(endpoint, "/")+"/", bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("queue: sqs: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	a, err := awsreq.Send(ctx, q.Client, req, payload, "sqs", q.Region, c, 64<<10)
	if err != nil {
		return fmt.Errorf("queue: sqs SendMessage: %w", err)
	}
	if a.Status != http.StatusOK {
		return fmt.Errorf("queue: sqs SendMessage: HTTP %d %s", a.Status, awsreq.ErrorType(a.Body))
	}
	return nil
}
