// Package awsreq sends one AWS API request signed with Signature Version 4
// by the AWS SDK's signer, for the clients that need an action or three of
// a service and so do not link its client package (lambdakick's Invoke,
// sqsqueue's SendMessage, dynamoquota's UpdateItem/GetItem/PutItem).
package awsreq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// EnvCredentials are the credentials Lambda puts in the environment, read
// at every call (a role's credentials rotate).
func EnvCredentials() (aws.Credentials, error) {
	id, key := os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY")
	if id == "" || key == "" {
		return aws.Credentials{}, errors.New("AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set")
	}
	return aws.Credentials{AccessKeyID: id, SecretAccessKey: key, SessionToken: os.Getenv("AWS_SESSION_TOKEN")}, nil
}

// Send signs req, whose body is body, for service and region, sends it
// with hc (nil: http.DefaultClient) and returns the answer with at most
// limit bytes of its body read. A transport error comes without the URL
// (it may name a function or a queue).
func Send(ctx context.Context, hc *http.Client, req *http.Request, body []byte, service, region string, creds aws.Credentials, limit int64) (Answer, error) {
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
		return Answer{}, err
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Answer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, limit))
	return Answer{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Answer is what came back.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// ErrorType is a JSON-protocol error answer's type without its namespace
// ("com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException" →
// "ConditionalCheckFailedException"), or "".
func ErrorType(answer []byte) string {
	var e struct {
		Type string `json:"__type"`
	}
	json.Unmarshal(answer, &e)
	return e.Type[strings.LastIndex(e.Type, "#")+1:]
}
