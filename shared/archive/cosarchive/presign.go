package cosarchive

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cardocr/cardocr/shared/presign"
)

// PresignUpload signs an upload of u with the function's credentials: a
// POST Object form (https://cloud.tencent.com/document/product/436/14690),
// or a PUT whose URL carries the request signature as its query, as
// COS's presigned URLs do. The bucket's default encryption encrypts the
// object.
func (b *Bucket) PresignUpload(_ context.Context, u presign.Upload, method string) (presign.Form, error) {
	now := time.Now()
	if method != "PUT" {
		c := presign.COS{SecretID: b.cfg.SecretID, SecretKey: b.cfg.SecretKey, SessionToken: b.cfg.SessionToken, BucketURL: b.base.String()}
		return c.Post(u, now)
	}
	obj := b.base.JoinPath(u.Key)
	req, err := http.NewRequest(http.MethodPut, obj.String(), nil)
	if err != nil {
		return presign.Form{}, err
	}
	req.Header.Set("Content-Type", u.ContentType)
	req.ContentLength = u.Size
	auth := Sign(req, b.cfg.SecretID, b.cfg.SecretKey, now, u.Expires)
	if b.cfg.SessionToken != "" {
		auth += "&x-cos-security-token=" + url.QueryEscape(b.cfg.SessionToken)
	}
	obj.RawQuery = auth
	return presign.Form{Method: "PUT", URL: obj.String(),
		Headers: map[string]string{"Content-Type": u.ContentType, "Content-Length": strconv.FormatInt(u.Size, 10)}}, nil
}
