// Command putsecret writes a secret's value, read from standard input, to
// a secret store URL (tencentssm://name?region=…, awssm://name, file://…):
// the deploy scripts pass credentials this way so that no command line
// (which ps shows) ever holds them. The value must be a JSON object.
//
//	putsecret tencentssm://cardocr-prod-credentials?region=ap-guangzhou < credentials.json
//
// Tencent credentials: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY
// (as tccli reads them) or SCF's TENCENTCLOUD_SECRETID and
// TENCENTCLOUD_SECRETKEY; AWS: the standard environment.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"

	// awssm:// and tencentssm:// (file:// is built in).
	_ "github.com/cardocr/cardocr/shared/backends/secrets"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdin, os.Getenv, os.Setenv); err != nil {
		fmt.Fprintln(os.Stderr, "putsecret:", err)
		os.Exit(1)
	}
	fmt.Println("putsecret: written")
}

func run(ctx context.Context, args []string, stdin io.Reader, getenv func(string) string, setenv func(string, string) error) error {
	if len(args) != 1 {
		return errors.New("usage: putsecret <store URL> < value.json")
	}
	// tccli's names for the store backends, which read SCF's.
	for from, to := range map[string]string{"TENCENTCLOUD_SECRET_ID": "TENCENTCLOUD_SECRETID", "TENCENTCLOUD_SECRET_KEY": "TENCENTCLOUD_SECRETKEY",
		"TENCENTCLOUD_SESSION_TOKEN": "TENCENTCLOUD_SESSIONTOKEN"} {
		if getenv(to) == "" && getenv(from) != "" {
			_ = setenv(to, getenv(from))
		}
	}
	b, err := io.ReadAll(io.LimitReader(stdin, 64<<10))
	if err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return errors.New("standard input is not a JSON object") // never echo it: it is a secret
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := secretstore.Open(ctx, args[0])
	if err != nil {
		return err
	}
	return st.Put(ctx, b)
}
