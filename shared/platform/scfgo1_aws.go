//go:build cardocr_aws

package platform

import (
	"context"
	"errors"
)

// runSCFGo1 is not built into AWS binaries (-tags cardocr_aws): the SCF Go1
// protocol needs encoding/gob, whose init alone costs a quarter of a
// millisecond of every cold start, and an AWS binary never meets SCF.
func runSCFGo1(context.Context, *dispatcher, string, string) error {
	return errors.New("platform: the SCF Go1 runtime is not built into this binary (built for AWS)")
}
