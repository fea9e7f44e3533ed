// Package buildinfo says which build is running: the version stamped at
// build time (scripts/build.sh: -ldflags "-X …/buildinfo.Version=…"), else
// the VCS revision Go recorded, else "dev". Functions log it when they
// start, make run prints it and /healthz reports it.
package buildinfo

import "sync"

// Version is set by the linker; empty in a plain go build or go run.
var Version string

// vcsVersion is the fallback from Go's recorded VCS revision; only builds
// without a cloud tag set it (vcs.go): the cloud builds are always stamped
// by scripts/build.sh, and runtime/debug's build-info parser is weight
// they need not carry.
var vcsVersion func() string

var version = sync.OnceValue(func() string {
	if Version != "" {
		return Version
	}
	if vcsVersion != nil {
		if v := vcsVersion(); v != "" {
			return v
		}
	}
	return "dev"
})

// String returns the running build's version.
func String() string { return version() }
