// Command erase is the operator's erasure tool (PIPL art. 47): it erases
// what the service holds for orders — archived results and photos, markers,
// uploaded images, replay records — on the archive ARCHIVE_URL names,
// leaving a tombstone per order and one audit record per erasure, as
// DELETE /v1/{kind}/results/{orderNo} does. See docs/personal-data.md.
//
//	erase -order NO [-tenant ID] [-kind idcard|bankcard] [-reason TEXT] [-dry-run]
//	erase -kind idcard|bankcard -from 2026-01-01 [-to 2026-01-31] [-reason TEXT] [-dry-run]
//	erase -tenant default [-reason TEXT] [-dry-run]
//
// -archive overrides ARCHIVE_URL; -uploads names the directory of a file
// archive's uploads (make run keeps them in .local, beside .local/archive).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/cardocr/cardocr/shared/archive"
	"github.com/cardocr/cardocr/shared/ocr"
	"github.com/cardocr/cardocr/shared/resultfetch"

	// s3:// and cos:// for -archive (file:// is built in).
	_ "github.com/cardocr/cardocr/shared/backends/archives"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "erase:", err)
		os.Exit(1)
	}
}

// cst: dates are China dates, as in the archive's layout.
var cst = time.FixedZone("CST", 8*3600)

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("erase", flag.ContinueOnError)
	fs.SetOutput(out)
	archiveURL := fs.String("archive", getenv("ARCHIVE_URL"), "the archive (default ARCHIVE_URL)")
	uploads := fs.String("uploads", "", "directory of a file archive's uploads (make run: .local)")
	orderNo := fs.String("order", "", "erase this order")
	kind := fs.String("kind", "", "idcard or bankcard (with -order: default from the order's record or number)")
	from := fs.String("from", "", "erase the orders archived on this China date (YYYY-MM-DD) …")
	to := fs.String("to", "", "… through this one (default: -from)")
	tenant := fs.String("tenant", "", `erase every recorded order of this tenant ("default" before tenants)`)
	reason := fs.String("reason", "operator erasure", "why, for the audit record (plain ASCII, at most 200 characters)")
	dry := fs.Bool("dry-run", false, "list what would be erased; change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	modes := 0
	for _, set := range []bool{*orderNo != "", *from != ""} {
		if set {
			modes++
		}
	}
	if (modes == 0 && *tenant == "") || modes > 1 || fs.NArg() != 0 {
		fs.Usage()
		return errors.New("give -order (with -tenant for a tenant's order), -from, or -tenant alone")
	}
	if *archiveURL == "" {
		return errors.New("no archive: set ARCHIVE_URL or -archive")
	}
	a, err := archive.Open(ctx, *archiveURL)
	if err != nil {
		return err
	}
	a.AuditSalt = []byte(getenv("AUDIT_SALT"))
	if *uploads != "" {
		local := &archive.FileBucket{Dir: *uploads}
		a.Uploads = func(context.Context, string) (archive.Bucket, error) { return local, nil }
	}

	type target struct{ kind, orderNo string }
	var targets []target
	switch {
	case *orderNo != "":
		k := *kind
		if k == "" {
			if rec, err := a.Order(ctx, ocr.OwnerOf(*tenant), *orderNo); err != nil {
				return err
			} else if rec != nil && rec.Kind != "" {
				k = rec.Kind
			} else {
				k = resultfetch.KindOf(*orderNo)
			}
		}
		if k == "" {
			return errors.New("-kind is needed: the order has no record and its number does not say")
		}
		targets = append(targets, target{k, *orderNo})
	case *from != "":
		if *kind == "" {
			return errors.New("-from needs -kind")
		}
		if *to == "" {
			*to = *from
		}
		f, err1 := time.ParseInLocation("2006-01-02", *from, cst)
		t, err2 := time.ParseInLocation("2006-01-02", *to, cst)
		if err1 != nil || err2 != nil || t.Before(f) {
			return errors.New("-from and -to are dates YYYY-MM-DD, -to not before -from")
		}
		nos, err := a.OrdersOn(ctx, *kind, f, t)
		if err != nil {
			return err
		}
		for _, n := range nos {
			targets = append(targets, target{*kind, n})
		}
	default:
		owner := ocr.OwnerOf(*tenant)
		recs, err := a.RecordedOrders(ctx)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Owner == owner && r.State != ocr.OrderErased && r.Kind != "" {
				targets = append(targets, target{r.Kind, r.OrderNo})
			}
		}
	}

	objects := 0
	for _, tg := range targets {
		e := ocr.Erasure{Kind: tg.kind, OrderNo: tg.orderNo, Caller: "operator", Reason: *reason, DryRun: *dry}
		e.Owner = ocr.OwnerOf(*tenant)
		res, err := a.Erase(ctx, e)
		if err != nil {
			return fmt.Errorf("%s %s: %w", tg.kind, tg.orderNo, err)
		}
		if *dry {
			fmt.Fprintf(out, "%s %s: would erase %d objects\n", tg.kind, tg.orderNo, len(res.Keys))
			for _, k := range res.Keys {
				fmt.Fprintf(out, "  %s\n", strings.ReplaceAll(k, "\x00", ":"))
			}
			continue
		}
		objects += res.Objects
		fmt.Fprintf(out, "%s %s: erased %d objects; audit record %s\n", tg.kind, tg.orderNo, res.Objects, res.AuditKey)
	}
	if *dry {
		fmt.Fprintf(out, "dry run: %d orders, nothing changed\n", len(targets))
	} else {
		fmt.Fprintf(out, "erased %d orders, %d objects\n", len(targets), objects)
	}
	return nil
}
