//go:build !cardocr_aws && !cardocr_scf

package buildinfo

import "runtime/debug"

func init() { vcsVersion = fromVCS }

// fromVCS is "dev-<revision>[-dirty]" from what the go command recorded,
// or "".
func fromVCS() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
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
	if rev == "" {
		return ""
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}
