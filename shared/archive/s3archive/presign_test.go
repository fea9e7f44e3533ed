package s3archive

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"testing"
	"time"

	"github.com/cardocr/cardocr/shared/presign"
)

// The form lands the photo at its key in an S3-compatible server
// (gofakes3, which takes browser-based POSTs without checking them), and
// S3's own check of it (presign.VerifyPost, held to AWS's worked example)
// passes with the bucket's credentials; so does the presigned PUT's.
func TestPresignUploadToS3(t *testing.T) {
	f := startFakeS3(t, "evidence")
	b := newBucket(t, f, "evidence")
	photo := bytes.Repeat([]byte{0xFF, 0xD8}, 500)
	u := presign.Upload{Key: "uploads/idcard/front/api/_/id1.jpg", ContentType: "image/jpeg", MaxBytes: 20 << 20, Size: int64(len(photo)), Expires: time.Now().Add(10 * time.Minute)}
	form, err := b.PresignUpload(context.Background(), u, "POST")
	if err != nil {
		t.Fatal(err)
	}
	if form.URL != f.url+"/evidence" {
		t.Errorf("form URL %s", form.URL)
	}
	secrets := func(id string) string {
		if id == "AKIDTEST" {
			return "secret"
		}
		return ""
	}
	if _, perr := presign.VerifyPost(form.Fields, "evidence", "us-east-1", secrets, time.Now()); perr != nil {
		t.Fatalf("S3 would refuse the form: %v", perr)
	}
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range form.Fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile(form.FileField, "photo.jpg")
	fw.Write(photo)
	mw.Close()
	resp, err := http.Post(form.URL, mw.FormDataContentType(), &buf)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	if got := read(t, b, u.Key); !bytes.Equal(got, photo) {
		t.Fatalf("stored %d bytes", len(got))
	}

	put, err := b.PresignUpload(context.Background(), u, "PUT")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, put.URL, bytes.NewReader(photo))
	req.Header.Set("Content-Type", "image/jpeg")
	if perr := presign.VerifyPut(req, "us-east-1", secrets, time.Now()); perr != nil {
		t.Fatalf("S3 would refuse the PUT: %v", perr)
	}
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	// Virtual-hosted on AWS itself.
	aws, _ := New(Config{Bucket: "evidence", Region: "ap-east-1", Credentials: b.cfg.Credentials})
	if aws.URL() != "https://evidence.s3.ap-east-1.amazonaws.com" {
		t.Errorf("AWS bucket URL %s", aws.URL())
	}
}
