// Command cosbucket prepares the evidence bucket of an SCF deployment
// (scripts/deploy-scf.sh runs it): it creates the bucket, private, if it
// does not exist; sets its default encryption (SSE-KMS under -kms-key, else
// SSE-COS); and sets the retention rules every archive follows
// (docs/personal-data.md): evidence -retention-days, audit records
// -audit-days, uploads one day.
//
//	cosbucket -bucket name-appid -region ap-guangzhou [-prefix archive] [-retention-days 180]
//	          [-audit-days 1096] [-kms-key ID] [-dry-run]
//
// Credentials: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY (as tccli
// reads them), with TENCENTCLOUD_SESSION_TOKEN for temporary keys. -dry-run
// prints the request bodies and sends nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/archive/cosarchive"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cosbucket:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("cosbucket", flag.ContinueOnError)
	fs.SetOutput(out)
	bucket := fs.String("bucket", "", "the bucket, name-appid")
	region := fs.String("region", "", "its region, such as ap-guangzhou")
	prefix := fs.String("prefix", "archive", "the archive's prefix (ARCHIVE_URL's prefix=)")
	days := fs.Int("retention-days", archive.DefaultRetentionDays, "days evidence is kept")
	auditDays := fs.Int("audit-days", archive.DefaultAuditRetentionDays, "days erasure audit records are kept")
	kmsKey := fs.String("kms-key", "", "KMS key ID for SSE-KMS (default: SSE-COS)")
	endpoint := fs.String("endpoint", "", "bucket URL override (tests)")
	dry := fs.Bool("dry-run", false, "print the requests; send nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bucket == "" || *region == "" || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("-bucket and -region are required")
	}
	rules := archive.RetentionRules(*prefix, *days, *auditDays)
	lifecycle, err := cosarchive.LifecycleXML(rules)
	if err != nil {
		return err
	}
	encryption, _ := cosarchive.EncryptionXML(*kmsKey)
	if *dry {
		fmt.Fprintf(out, "HEAD Bucket %s (%s); PUT Bucket x-cos-acl: private if missing\n", *bucket, *region)
		fmt.Fprintf(out, "PUT /?encryption\n%s\n", encryption)
		fmt.Fprintf(out, "PUT /?lifecycle\n%s\n", lifecycle)
		return nil
	}
	id, key := getenv("TENCENTCLOUD_SECRET_ID"), getenv("TENCENTCLOUD_SECRET_KEY")
	if id == "" || key == "" {
		id, key = getenv("TENCENTCLOUD_SECRETID"), getenv("TENCENTCLOUD_SECRETKEY")
	}
	b, err := cosarchive.New(cosarchive.Config{Bucket: *bucket, Region: *region, Endpoint: *endpoint,
		SecretID: id, SecretKey: key, SessionToken: getenv("TENCENTCLOUD_SESSION_TOKEN")})
	if err != nil {
		return fmt.Errorf("%w (export TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY, as for tccli)", err)
	}
	ok, err := b.Exists(ctx)
	if err != nil {
		return err
	}
	if !ok {
		if err := b.CreateBucket(ctx); err != nil {
			return err
		}
		fmt.Fprintf(out, "created bucket %s (private)\n", *bucket)
	}
	if err := b.PutEncryption(ctx, *kmsKey); err != nil {
		return err
	}
	if err := b.PutLifecycle(ctx, rules); err != nil {
		return err
	}
	enc := "SSE-COS"
	if *kmsKey != "" {
		enc = "SSE-KMS"
	}
	fmt.Fprintf(out, "bucket %s: default encryption %s; lifecycle: uploads/ 1 day, evidence %d days, audit records %d days\n", *bucket, enc, *days, *auditDays)
	return nil
}
