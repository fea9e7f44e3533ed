// Package lambdakick asks the refresher function to run through AWS
// Lambda's Invoke API with InvocationType Event (asynchronous: Lambda
// answers 202 and queues the event;
// https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html).
// Importing it registers lambda://<function-name>[?region=…&endpoint=…].
//
// The request is signed with Signature Version 4 by the AWS SDK's signer
// (already linked for the stores); credentials are Lambda's environment
// (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), read at
// every call because they rotate. Permission: lambda:InvokeFunction on the
// refresher.
package lambdakick

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cardocr/cardocr/shared/awsreq"
	"github.com/cardocr/cardocr/shared/kick"
	"github.com/cardocr/cardocr/shared/tickets"
)

func init() { kick.Register("lambda", open) }

// Kicker invokes a Lambda function asynchronously.
type Kicker struct {
	Function   string
	Region     string
	Endpoint   string // base URL; default https://lambda.<region>.amazonaws.com
	HTTPClient *http.Client
	// Credentials returns the credentials of each call (default: the
	// environment Lambda sets).
	Credentials func() (aws.Credentials, error)
}

func open(u *url.URL) (tickets.Kicker, error) {
	q := u.Query()
	k := &Kicker{Function: u.Host, Region: q.Get("region"), Endpoint: q.Get("endpoint")}
	if k.Region == "" {
		k.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	}
	if k.Endpoint == "" {
		k.Endpoint = os.Getenv("AWS_ENDPOINT_URL_LAMBDA")
	}
	if k.Region == "" {
		return nil, errors.New("kick: lambda: no region (?region= or AWS_REGION)")
	}
	return k, nil
}

// Kick sends kick.Payload with X-Amz-Invocation-Type: Event; anything but
// 202 is an error that names the status and Lambda's error type.
func (k *Kicker) Kick(ctx context.Context) error {
	creds := k.Credentials
	if creds == nil {
		creds = awsreq.EnvCredentials
	}
	c, err := creds()
	if err != nil {
		return err
	}
	base := k.Endpoint
	if base == "" {
		base = "https://lambda." + k.Region + ".amazonaws.com"
	}
	u := strings.TrimRight(base, "/") + "/2015-03-31/functions/" + url.PathEscape(k.Function) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(kick.Payload))
	if err != nil {
		return fmt.Errorf("kick: lambda: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	a, err := awsreq.Send(ctx, k.HTTPClient, req, kick.Payload, "lambda", k.Region, c, 4<<10)
	if err != nil {
		return fmt.Errorf("kick: lambda Invoke: %w", err)
	}
	if a.Status != http.StatusAccepted {
		return fmt.Errorf("kick: lambda Invoke: HTTP %d %s", a.Status, a.Header.Get("X-Amzn-ErrorType"))
	}
	return nil
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}
