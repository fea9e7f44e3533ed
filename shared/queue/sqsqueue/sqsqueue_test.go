package sqsqueue

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

func TestSendMessage(t *testing.T) {
	var got struct {
		QueueUrl     string
		MessageBody  string
		DelaySeconds int
	}
	var target, auth string
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, auth = r.Header.Get("X-Amz-Target"), r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &got)
		if fail {
			w.WriteHeader(400)
			io.WriteString(w, `{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"no"}`)
			return
		}
		io.WriteString(w, `{"MessageId":"m1"}`)
	}))
	defer srv.Close()
	u, _ := url.Parse("sqs://sqs.ap-east-1.amazonaws.com/123456789012/cardocr-resultfetch?endpoint=" + srv.URL)
	s, err := open(u)
	if err != nil {
		t.Fatal(err)
	}
	q := s.(*Queue)
	q.Credentials = func() (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "k"}, nil
	}
	if err := q.Send(context.Background(), []byte(`{"callback":{}}`), 40*time.Minute); err != nil {
		t.Fatal(err)
	}
	if target != "AmazonSQS.SendMessage" || !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKID/") || !strings.Contains(auth, "/ap-east-1/sqs/aws4_request") {
		t.Errorf("target %q, auth %q", target, auth)
	}
	if got.QueueUrl != "https://sqs.ap-east-1.amazonaws.com/123456789012/cardocr-resultfetch" || got.MessageBody != `{"callback":{}}` || got.DelaySeconds != 900 {
		t.Errorf("sent %+v", got)
	}
	fail = true
	if err := q.Send(context.Background(), []byte(`{}`), 0); err == nil || !strings.Contains(err.Error(), "QueueDoesNotExist") {
		t.Errorf("error answer: %v", err)
	}
	for _, bad := range []string{"sqs://example.com/1/q", "sqs://sqs.ap-east-1.amazonaws.com/q", "sqs://sqs..amazonaws.com/1/q"} {
		u, _ := url.Parse(bad)
		if _, err := open(u); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	u, _ = url.Parse("sqs://sqs.cn-north-1.amazonaws.com.cn/1/q")
	if s, err := open(u); err != nil || s.(*Queue).Region != "cn-north-1" {
		t.Errorf("China region: %v", err)
	}
}
