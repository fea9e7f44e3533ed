// Package scfkick asks the refresher function to run through SCF's Invoke
// API 3.0 action with InvocationType Event (asynchronous;
// https://cloud.tencent.com/document/api/583/17243). Importing it
// registers scf://<function-name>?region=…[&namespace=default&endpoint=…].
//
// The request is signed with TC3-HMAC-SHA256 (package tc3, which is tested
// against tencentcloud-sdk-go's signer); credentials are SCF's environment
// (TENCENTCLOUD_SECRETID, TENCENTCLOUD_SECRETKEY,
// TENCENTCLOUD_SESSIONTOKEN), read at every call. Permission:
// scf:InvokeFunction on the refresher.
package scfkick

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/cardocr/cardocr/shared/kick"
	"github.com/cardocr/cardocr/shared/tc3"
	"github.com/cardocr/cardocr/shared/tickets"
)

func init() { kick.Register("scf", open) }

// Kicker invokes an SCF function asynchronously.
type Kicker struct {
	Function, Region, Namespace string
	Endpoint                    string // base URL; default https://scf.tencentcloudapi.com
	HTTPClient                  *http.Client
	// Credentials returns (id, key, token) for each call (default: the
	// environment SCF sets).
	Credentials func() (id, key, token string, err error)
}

func open(u *url.URL) (tickets.Kicker, error) {
	q := u.Query()
	k := &Kicker{Function: u.Host, Region: q.Get("region"), Namespace: q.Get("namespace"), Endpoint: q.Get("endpoint")}
	if k.Region == "" {
		k.Region = os.Getenv("TENCENTCLOUD_REGION")
	}
	if k.Region == "" {
		return nil, errors.New("kick: scf: no region (?region=)")
	}
	return k, nil
}

// Kick sends the Invoke action; an answer with Response.Error is an error
// that names its code.
func (k *Kicker) Kick(ctx context.Context) error {
	creds := k.Credentials
	if creds == nil {
		creds = tc3.EnvCredentials
	}
	id, key, token, err := creds()
	if err != nil {
		return err
	}
	ns := k.Namespace
	if ns == "" {
		ns = "default"
	}
	body, _ := json.Marshal(map[string]string{"FunctionName": k.Function, "InvocationType": "Event",
		"ClientContext": string(kick.Payload), "Namespace": ns})
	_, err = tc3.Call(ctx, tc3.Action{Service: "scf", Name: "Invoke", Version: "2018-04-16", Region: k.Region,
		Endpoint: k.Endpoint, ID: id, Key: key, Token: token, Client: k.HTTPClient}, body)
	if err != nil {
		return fmt.Errorf("kick: %w", err)
	}
	return nil
}
