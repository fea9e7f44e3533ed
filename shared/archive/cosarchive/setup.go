package cosarchive

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/cardocr/cardocr/shared/archive"
)

// Bucket setup for the deploy (cmd/cosbucket): create the bucket private,
// set its default encryption and its lifecycle rules, each with the
// documented bucket API and the same request signature as the objects.

// Exists reports whether the bucket exists (HEAD Bucket:
// https://cloud.tencent.com/document/product/436/7735).
func (b *Bucket) Exists(ctx context.Context) (bool, error) {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.do(ctx, http.MethodHead, "", nil, nil, nil)
	if err == nil {
		resp.Body.Close()
		return true, nil
	}
	if errors.Is(mapError("HeadBucket", err), archive.ErrNotExist) {
		return false, nil
	}
	return false, mapError("HeadBucket", err)
}

// Create creates the bucket, private (PUT Bucket with x-cos-acl: private:
// https://cloud.tencent.com/document/product/436/7738).
func (b *Bucket) CreateBucket(ctx context.Context) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	resp, err := b.do(ctx, http.MethodPut, "", nil, []byte{}, http.Header{"X-Cos-Acl": {"private"}})
	if err != nil {
		return mapError("PutBucket", err)
	}
	resp.Body.Close()
	return nil
}

// LifecycleXML is the body of PUT Bucket lifecycle for rules
// (https://cloud.tencent.com/document/product/436/8280): one rule per
// prefix, expiring objects Days after they were written.
func LifecycleXML(rules []archive.Rule) ([]byte, error) {
	type expiration struct {
		Days int `xml:"Days"`
	}
	type filter struct {
		Prefix string `xml:"Prefix"`
	}
	type rule struct {
		ID         string     `xml:"ID"`
		Filter     filter     `xml:"Filter"`
		Status     string     `xml:"Status"`
		Expiration expiration `xml:"Expiration"`
	}
	type config struct {
		XMLName xml.Name `xml:"LifecycleConfiguration"`
		Rules   []rule   `xml:"Rule"`
	}
	var c config
	for _, r := range rules {
		if r.Days < 1 || r.ID == "" {
			return nil, fmt.Errorf("archive: cos: lifecycle rule %q needs an ID and at least one day", r.Prefix)
		}
		c.Rules = append(c.Rules, rule{ID: r.ID, Filter: filter{Prefix: r.Prefix}, Status: "Enabled", Expiration: expiration{Days: r.Days}})
	}
	return xml.Marshal(c)
}

// EncryptionXML is the body of PUT Bucket encryption
// (https://cloud.tencent.com/document/product/436/33459): SSEAlgorithm
// AES256 (SSE-COS) or KMS, with the KMS key when one is named.
func EncryptionXML(kmsKeyID string) ([]byte, error) {
	type def struct {
		SSEAlgorithm   string `xml:"SSEAlgorithm"`
		KMSMasterKeyID string `xml:"KMSMasterKeyID,omitempty"`
	}
	type rule struct {
		Default def `xml:"ApplyServerSideEncryptionByDefault"`
	}
	type config struct {
		XMLName xml.Name `xml:"ServerSideEncryptionConfiguration"`
		Rule    rule     `xml:"Rule"`
	}
	alg := "AES256"
	if kmsKeyID != "" {
		alg = "KMS"
	}
	return xml.Marshal(config{Rule: rule{Default: def{SSEAlgorithm: alg, KMSMasterKeyID: kmsKeyID}}})
}

// PutLifecycle replaces the bucket's lifecycle configuration.
func (b *Bucket) PutLifecycle(ctx context.Context, rules []archive.Rule) error {
	body, err := LifecycleXML(rules)
	if err != nil {
		return err
	}
	return b.putBucketConfig(ctx, "lifecycle", body)
}

// PutEncryption sets the bucket's default encryption.
func (b *Bucket) PutEncryption(ctx context.Context, kmsKeyID string) error {
	body, err := EncryptionXML(kmsKeyID)
	if err != nil {
		return err
	}
	return b.putBucketConfig(ctx, "encryption", body)
}

// putBucketConfig sends PUT /?<sub> with the XML body and its Content-MD5
// (which the lifecycle API requires).
func (b *Bucket) putBucketConfig(ctx context.Context, sub string, body []byte) error {
	ctx, cancel := b.withTimeout(ctx)
	defer cancel()
	sum := md5.Sum(body)
	h := http.Header{"Content-Type": {"application/xml"}, "Content-Md5": {base64.StdEncoding.EncodeToString(sum[:])}}
	resp, err := b.do(ctx, http.MethodPut, "", url.Values{sub: {""}}, bytes.Clone(body), h)
	if err != nil {
		return mapError("PutBucket"+sub, err)
	}
	resp.Body.Close()
	return nil
}
