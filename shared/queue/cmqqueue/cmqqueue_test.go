package cmqqueue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/tc3"
)

func TestPublish(t *testing.T) {
	var got struct{ TopicName, MsgContent string }
	var action, code string
	answer := `{"Response":{"Result":true,"MsgId":"m1","RequestId":"r"}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		action = r.Header.Get("X-TC-Action")
		code, _ = tc3.Verify(r, b, "tdmq", tc3.Credentials{SecretID: "AKID", SecretKey: "k", Token: "tok"}, time.Now())
		json.Unmarshal(b, &got)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	u, _ := url.Parse("cmq://cardocr-prod-resultfetch?region=ap-guangzhou&endpoint=" + srv.URL)
	s, err := open(u)
	if err != nil {
		t.Fatal(err)
	}
	q := s.(*Queue)
	q.Credentials = func() (string, string, string, error) { return "AKID", "k", "tok", nil }
	if err := q.Send(context.Background(), []byte(`{"callback":{}}`), 0); err != nil {
		t.Fatal(err)
	}
	if action != "PublishCmqMsg" || code != "" || got.TopicName != "cardocr-prod-resultfetch" || got.MsgContent != `{"callback":{}}` {
		t.Errorf("action %q, signature %q, sent %+v", action, code, got)
	}
	if err := q.Send(context.Background(), []byte(`{}`), time.Second); !errors.Is(err, ErrNoDelay) {
		t.Errorf("a delayed send: %v", err)
	}
	answer = `{"Response":{"Error":{"Code":"ResourceNotFound","Message":"no topic"},"RequestId":"r"}}`
	if err := q.Send(context.Background(), []byte(`{}`), 0); err == nil || err.Error() != "queue: cmq: tdmq PublishCmqMsg: ResourceNotFound" {
		t.Errorf("an error answer: %v", err)
	}
}
