package tc3

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
)

// EnvCredentials are the credentials SCF puts in a function's environment
// (its role's, read at every call: they rotate).
func EnvCredentials() (id, key, token string, err error) {
	id, key = os.Getenv("TENCENTCLOUD_SECRETID"), os.Getenv("TENCENTCLOUD_SECRETKEY")
	if id == "" || key == "" {
		return "", "", "", errors.New("TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY are not set")
	}
	return id, key, os.Getenv("TENCENTCLOUD_SESSIONTOKEN"), nil
}

// Action is one API 3.0 call: service, action, version and region, the
// endpoint (https://<service>.tencentcloudapi.com when empty) and the
// credentials (a role's token may be empty).
type Action struct {
	Service, Name, Version, Region string
	Endpoint                       string
	ID, Key, Token                 string
	Client                         *http.Client
}

// Call POSTs body as the action, signed with TC3-HMAC-SHA256 over
// content-type and host, and returns the Response object. An answer with
// Response.Error is an error naming its code (never the request URL or
// body).
func Call(ctx context.Context, a Action, body []byte) (json.RawMessage, error) {
	base := a.Endpoint
	if base == "" {
		base = "https://" + a.Service + ".tencentcloudapi.com"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", a.Service, a.Name, err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("X-TC-Action", a.Name)
	req.Header.Set("X-TC-Version", a.Version)
	req.Header.Set("X-TC-Region", a.Region)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	if a.Token != "" {
		req.Header.Set("X-TC-Token", a.Token)
	}
	signed := []string{"content-type", "host"}
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+a.ID+"/"+date+"/"+a.Service+"/tc3_request, SignedHeaders="+
		strings.Join(signed, ";")+", Signature="+Signature(req, body, signed, ts, a.Service, a.Key))
	hc := a.Client
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", a.Service, a.Name, err)
	}
	defer resp.Body.Close()
	var out struct {
		Response json.RawMessage `json:"Response"`
	}
	var e struct {
		Error *struct{ Code string } `json:"Error"`
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err := json.Unmarshal(b, &out); err != nil || resp.StatusCode != http.StatusOK || json.Unmarshal(out.Response, &e) != nil {
		return nil, fmt.Errorf("%s %s: HTTP %d, unreadable answer", a.Service, a.Name, resp.StatusCode)
	}
	if e.Error != nil {
		return nil, fmt.Errorf("%s %s: %s", a.Service, a.Name, e.Error.Code)
	}
	return out.Response, nil
}
