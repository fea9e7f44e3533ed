// Package buildinfo says which build is running. The release is the
// VERSION file beside this package, embedded in every binary (a copy of the
// repository without its git history still knows it); scripts/build.sh
// stamps the same value (-ldflags "-X …/buildinfo.Version=…"), and a plain
// go build or go run of a git checkout adds the revision it was built from
// ("0.1.0+dev-<revision>[-dirty]"). Functions log it when they start, take
// -version, make run prints it and /healthz reports it.
package buildinfo

import (
	_ "embed"
	"strings"
	"sync"
)

// Version is set by the linker; empty in a plain go build or go run.
var Version string

//go:embed VERSION
var release string

// Release is the version in the VERSION file.
func Release() string { return strings.TrimSpace(release) }

// vcsVersion is the revision Go recorded; only builds without a cloud tag
// set it (vcs.go): the cloud builds are always stamped by scripts/build.sh,
// and runtime/debug's build-info parser is weight they need not carry.
var vcsVersion func() string

var version = sync.OnceValue(func() string {
	if Version != "" {
		return Version
	}
	if vcsVersion != nil {
		if v := vcsVersion(); v != "" {
			return Release() + "+" + v
		}
	}
	return Release()
})

// String returns the running build's version.
func String() string { return version() }
