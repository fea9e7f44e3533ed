package s3archive

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/presign"
)

// URL is where the bucket answers: the endpoint's (path-style when so
// configured), else the virtual-hosted https://{bucket}.s3.{region}.amazonaws.com.
func (b *Bucket) URL() string {
	if b.cfg.Endpoint != "" {
		e := strings.TrimSuffix(b.cfg.Endpoint, "/")
		if b.cfg.PathStyle {
			return e + "/" + b.cfg.Bucket
		}
		scheme, host, _ := strings.Cut(e, "://")
		return scheme + "://" + b.cfg.Bucket + "." + host
	}
	return "https://" + b.cfg.Bucket + ".s3." + b.cfg.Region + ".amazonaws.com"
}

// PresignUpload signs an upload of u with the function's credentials: a
// browser-based POST form (SigV4 POST policy) or a presigned PUT. The
// form is valid while both it and the credentials are (Lambda's role
// credentials last hours; a form at most 15 minutes). The bucket's
// default encryption encrypts the object.
func (b *Bucket) PresignUpload(ctx context.Context, u presign.Upload, method string) (presign.Form, error) {
	creds, err := b.cfg.Credentials.Retrieve(ctx)
	if err != nil {
		return presign.Form{}, fmt.Errorf("archive: s3: credentials: %w", err)
	}
	s := presign.S3{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken,
		Region: b.cfg.Region, Bucket: b.cfg.Bucket, BucketURL: b.URL()}
	if method == "PUT" {
		return s.Put(u, time.Now())
	}
	return s.Post(u, time.Now())
}
