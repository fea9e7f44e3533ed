package resultfetch

import (
	"bytes"
	"encoding/json"
	"errors"
	"github.com/cardocr/cardocr/shared/callback"
	"net/url"
	"strconv"
	"strings"
)

// The event shapes resultfetch takes (docs/architecture.md, "Events and runtimes"): SQS and CMQ
// batches carrying Message bodies, S3 and COS object-created notifications,
// and a bare Message (the local stack's queue endpoint, a manual invoke).

// Message is a queue message: fetch the result of an order and archive it.
type Message struct {
	Kind    string `json:"kind"` // "idcard" or "bankcard"
	OrderNo string `json:"orderNo"`
	// Tenant is the tenant whose order number OrderNo is ("" or
	// "default": the default tenant). Another tenant's order must have
	// its record here; it is archived under that tenant's prefix.
	Tenant string `json:"tenant,omitempty"`
	// Callback, when set, makes the message a callback delivery (queued
	// by the API and resultfetch themselves, never by callers).
	Callback *callback.Job `json:"callback,omitempty"`
}

// Upload is an object-created notification, normalized.
type Upload struct {
	Bucket string // S3 bucket name, or COS bucket as name-appid
	Region string // as the event gives it (COS: short form such as "gz"), may be empty
	Key    string // decoded, without the COS /appid/bucket prefix
	Size   int64
	ETag   string
}

// item is one record of an event.
type item struct {
	id      string // SQS messageId / CMQ msgId / object key
	source  string // "sqs", "cmq", "s3", "cos", "message"
	message []byte // queue body
	upload  *Upload
	bad     string // why the record could not be read
}

type record struct {
	// SQS
	MessageID   string  `json:"messageId"`
	Body        *string `json:"body"`
	EventSource string  `json:"eventSource"`
	// S3
	S3 *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key  string          `json:"key"`
			Size json.RawMessage `json:"size"`
			ETag string          `json:"eTag"`
		} `json:"object"`
	} `json:"s3"`
	AWSRegion string `json:"awsRegion"`
	// COS
	COS *struct {
		Bucket struct {
			Name   string          `json:"name"`
			AppID  json.RawMessage `json:"appid"`
			Region string          `json:"region"`
		} `json:"cosBucket"`
		Object struct {
			Key  string          `json:"key"`
			Size json.RawMessage `json:"size"`
			URL  string          `json:"url"`
		} `json:"cosObject"`
	} `json:"cos"`
	// CMQ
	CMQ *struct {
		MsgID   string `json:"msgId"`
		MsgBody string `json:"msgBody"`
	} `json:"CMQ"`
}

var errUnsupported = errors.New("unsupported event")

// parseEvent splits an event into items. A shape it does not know is an
// error; a record it cannot read is an item with bad set, so the rest of a
// batch still runs.
func parseEvent(event []byte) ([]item, error) {
	var top struct {
		Records  *[]json.RawMessage `json:"Records"`
		Kind     *string            `json:"kind"`
		OrderNo  *string            `json:"orderNo"`
		Callback json.RawMessage    `json:"callback"`
	}
	if err := json.Unmarshal(event, &top); err != nil {
		return nil, errUnsupported
	}
	if top.Records == nil {
		// A bare message (a manual invoke, the local queue): the
		// documented {"orderNo":"…"}, with or without kind; or a
		// callback delivery.
		if top.Kind != nil || top.OrderNo != nil || top.Callback != nil {
			return []item{{id: "message", source: "message", message: bytes.TrimSpace(event)}}, nil
		}
		return nil, errUnsupported
	}
	items := make([]item, 0, len(*top.Records))
	for i, raw := range *top.Records {
		var r record
		if err := json.Unmarshal(raw, &r); err != nil {
			items = append(items, item{id: "record-" + strconv.Itoa(i), bad: "record is not an object"})
			continue
		}
		items = append(items, r.item(i))
	}
	return items, nil
}

func (r *record) item(i int) item {
	switch {
	case r.CMQ != nil:
		return item{id: r.CMQ.MsgID, source: "cmq", message: []byte(r.CMQ.MsgBody)}
	case r.Body != nil && (r.EventSource == "aws:sqs" || r.MessageID != ""):
		return item{id: r.MessageID, source: "sqs", message: []byte(*r.Body)}
	case r.S3 != nil:
		// S3 keys arrive URL-encoded, spaces as "+".
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return item{id: r.S3.Object.Key, source: "s3", bad: "object key is not URL-encoded"}
		}
		size, _ := number(r.S3.Object.Size)
		return item{id: key, source: "s3", upload: &Upload{
			Bucket: r.S3.Bucket.Name, Region: r.AWSRegion, Key: key, Size: size, ETag: strings.Trim(r.S3.Object.ETag, `"`),
		}}
	case r.COS != nil:
		appID := text(r.COS.Bucket.AppID)
		name := r.COS.Bucket.Name
		// cosObject.key is /<appid>/<bucket-without-appid>/<key>.
		key := r.COS.Object.Key
		if rest, ok := strings.CutPrefix(key, "/"+appID+"/"+name+"/"); ok && appID != "" {
			key = rest
		} else {
			key = strings.TrimPrefix(key, "/")
		}
		bucket := name
		if appID != "" && !strings.HasSuffix(name, "-"+appID) {
			bucket = name + "-" + appID
		}
		size, _ := number(r.COS.Object.Size)
		return item{id: key, source: "cos", upload: &Upload{
			Bucket: bucket, Region: cosRegion(r.COS.Object.URL, r.COS.Bucket.Region), Key: key, Size: size,
		}}
	}
	return item{id: "record-" + strconv.Itoa(i), bad: "unknown record shape"}
}

// cosRegion prefers the long region in the object URL's host
// (name-appid.cos.ap-chengdu.myqcloud.com) over the event's short form.
func cosRegion(rawURL, short string) string {
	if u, err := url.Parse(rawURL); err == nil {
		parts := strings.Split(u.Hostname(), ".")
		for i := 0; i+1 < len(parts); i++ {
			if parts[i] == "cos" && strings.Contains(parts[i+1], "-") {
				return parts[i+1]
			}
		}
	}
	return short
}

func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return strings.TrimSpace(string(raw))
}

func number(raw json.RawMessage) (int64, bool) {
	n, err := strconv.ParseInt(text(raw), 10, 64)
	return n, err == nil
}
