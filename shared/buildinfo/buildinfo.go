// Package buildinfo says which build is running: the version stamped at
// build time (scripts/build.sh: -ldflags "-X …/buildinfo.Version=…"), else
// the VCS revision Go recorded, else "dev". Functions log it when they
// start, make run prints it and /healthz reports it.
package buildinfo

import (
	"runtime/debug"
	"sync"
)

// Version is set by the linker; empty in a plain go build or go run.
var Version string

var version = sync.OnceValue(func() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		rev, dirty := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			if dirty {
				rev += "-dirty"
			}
			return "dev-" + rev
		}
	}
	return "dev"
})

// String returns the running build's version.
func String() string { return version() }
