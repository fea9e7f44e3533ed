// Command tenants manages the tenants document on the configured store
// (TENANTS_URL, or -store): who may call the API, with which keys, for
// which card kinds, and their limits. A new key is printed once; only its
// SHA-256 is stored. Instances read the document at most once a minute.
//
//	tenants add ID [-kinds idcard,bankcard] [-quota N] [-rps N -burst N]
//	tenants add-key ID < key            (an existing key, read from standard input, never argv)
//	tenants rotate-key ID [-drop-old]
//	tenants revoke ID [-key KEYID]      (one key, or the whole tenant)
//	tenants set-quota ID N
//	tenants set-callback ID URL < secret  (the signing secret from standard input; no URL: none)
//	tenants list
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/secretstore"
	"github.com/cardocr/cardocr/shared/tenants"

	// awssm:// and tencentssm:// (file:// is built in).
	_ "github.com/cardocr/cardocr/shared/backends/secrets"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "tenants:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer, in io.Reader) error {
	if len(args) == 0 {
		return errors.New("usage: tenants add|add-key|rotate-key|revoke|set-quota|set-callback|list …")
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("tenants "+cmd, flag.ContinueOnError)
	fs.SetOutput(out)
	store := fs.String("store", getenv("TENANTS_URL"), "the tenants document's store (default TENANTS_URL)")
	kinds := fs.String("kinds", "idcard,bankcard", "card kinds the tenant may use")
	quota := fs.Int("quota", 0, "daily quota of billable calls (0: none)")
	rps := fs.Float64("rps", 0, "requests per second (0: none)")
	burst := fs.Int("burst", 0, "burst of requests")
	dropOld := fs.Bool("drop-old", false, "rotate-key: remove the tenant's other keys")
	keyID := fs.String("key", "", "revoke: the key id (key:…) to remove; empty: the whole tenant")
	var id string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		id, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *store == "" {
		return errors.New("no store: set TENANTS_URL or -store")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	st, err := secretstore.Open(ctx, *store)
	if err != nil {
		return err
	}
	doc, err := tenants.Load(ctx, st)
	if err != nil {
		return err
	}
	var key string
	switch cmd {
	case "list":
		for _, t := range doc.Tenants {
			var ids []string
			for _, k := range t.Keys {
				ids = append(ids, k.ID)
			}
			cb := "-"
			if t.Callback != nil {
				cb = t.Callback.URL // never the secret
			}
			fmt.Fprintf(out, "%s\tkinds=%s\tquota=%d\trps=%g\tburst=%d\tkeys=%s\tcallback=%s\n", t.ID, strings.Join(t.Kinds, ","), t.DailyQuota,
				t.Rate.PerSecond, t.Rate.Burst, strings.Join(ids, ","), cb)
		}
		return nil
	case "add":
		key, err = doc.Add(id, strings.Split(*kinds, ","), *quota, tenants.Rate{PerSecond: *rps, Burst: *burst})
	case "add-key":
		b, rerr := io.ReadAll(io.LimitReader(in, 4096))
		k := strings.TrimSpace(string(b))
		if rerr != nil || len(k) < 16 || strings.ContainsAny(k, " \n\t,") {
			return errors.New("add-key reads one key of at least 16 characters from standard input")
		}
		err = doc.AddKey(id, k)
	case "rotate-key":
		key, err = doc.RotateKey(id, *dropOld)
	case "revoke":
		err = doc.Revoke(id, *keyID)
	case "set-quota":
		if fs.NArg() != 1 {
			return errors.New("usage: tenants set-quota ID N")
		}
		n, cerr := strconv.Atoi(fs.Arg(0))
		if cerr != nil {
			return errors.New("the quota is a whole number")
		}
		err = doc.SetQuota(id, n)
	case "set-callback":
		url, secret := "", ""
		if fs.NArg() == 1 {
			url = fs.Arg(0)
			b, rerr := io.ReadAll(io.LimitReader(in, 4096))
			if secret = strings.TrimSpace(string(b)); rerr != nil {
				return errors.New("set-callback reads the signing secret from standard input")
			}
		}
		err = doc.SetCallback(id, url, secret)
	default:
		return fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		return err
	}
	if err := tenants.Save(ctx, st, doc); err != nil {
		return err
	}
	if key != "" {
		fmt.Fprintf(out, "tenant %s: new key (shown once, store it now): %s\n", id, key)
	} else {
		fmt.Fprintf(out, "tenant %s: %s done\n", id, cmd)
	}
	return nil
}
