package devstack

import (
	"fmt"
	"io"
	"net/http"

	"github.com/cardocr/cardocr/shared/emulator"
	"github.com/cardocr/cardocr/shared/providers"

	// The local stack runs every provider (a function links only those
	// its main imports).
	_ "github.com/cardocr/cardocr/shared/tencentcloud"
	_ "github.com/cardocr/cardocr/shared/webank"
	_ "github.com/cardocr/cardocr/shared/wechat"
)

// emulatorPrefix is where a provider's emulator is mounted: /_emulator/<name>.
const emulatorPrefix = "/_emulator/"

// upstream is one provider's emulator as the stack serves it.
type upstream struct {
	desc providers.Descriptor
	emu  providers.Emulator
	// atRoot: the emulator answers POST / of the stack (Tencent Cloud's
	// API 3.0 signs the host and posts to "/"; the console is GET /).
	atRoot bool
	shared *emulator.Emulator // the built-in emulator instance, if it is one
}

// upstreams are the emulators of every registered provider whose upstream
// variable is unset.
type upstreams struct{ list []upstream }

// upstreamsFor asks every registered provider for its emulator: its own
// (Descriptor.Emulator), or for the providers whose emulators are built
// into shared/emulator, that one (one instance serves them all, with the
// settings of o.Emulator).
func upstreamsFor(o Options) *upstreams {
	var inst *emulator.Emulator
	one := func() *emulator.Emulator {
		if inst == nil {
			inst = emulator.New(o.Emulator)
		}
		return inst
	}
	u := &upstreams{}
	for _, d := range providers.All() {
		var up upstream
		switch {
		case d.Emulator != nil:
			up = upstream{desc: d, emu: d.Emulator()}
		default:
			var ok bool
			if up, ok = builtin(d, o.Emulator, one); !ok {
				continue
			}
		}
		if up.emu.URLEnv == "" || o.Getenv(up.emu.URLEnv) != "" {
			continue // another upstream was named
		}
		u.list = append(u.list, up)
	}
	return u
}

// builtin is the shared/emulator part that serves d.
func builtin(d providers.Descriptor, c emulator.Config, one func() *emulator.Emulator) (upstream, bool) {
	up := upstream{desc: d}
	switch d.Name {
	case "webank":
		id, secret := c.AppID, c.Secret
		if id == "" {
			id, secret = emulator.DefaultAppID, emulator.DefaultSecret
		}
		up.emu = providers.Emulator{URLEnv: "KYC_BASE_URL", Secrets: map[string]string{"webankAppId": id, "webankSecret": secret}}
	case "wechat":
		id, secret := c.WeChat.AppID, c.WeChat.Secret
		if id == "" {
			id, secret = emulator.DefaultWeChatAppID, emulator.DefaultWeChatSecret
		}
		up.emu = providers.Emulator{URLEnv: "WECHAT_BASE_URL", Secrets: map[string]string{"wechatAppId": id, "wechatAppSecret": secret}}
	case "tencentcloud":
		id, key := c.TencentCloud.SecretID, c.TencentCloud.SecretKey
		if id == "" {
			id, key = emulator.DefaultTencentCloudSecretID, emulator.DefaultTencentCloudSecretKey
		}
		up.emu = providers.Emulator{URLEnv: "TENCENTCLOUD_OCR_ENDPOINT", Secrets: map[string]string{"tencentcloudSecretId": id, "tencentcloudSecretKey": key}}
		up.atRoot = true
	default:
		return upstream{}, false
	}
	up.shared = one()
	up.emu.Handler = up.shared
	return up, true
}

func (u *upstreams) find(name string) *upstream {
	for i := range u.list {
		if u.list[i].desc.Name == name {
			return &u.list[i]
		}
	}
	return nil
}

// embedded reports whether the stack serves name's emulator.
func (u *upstreams) embedded(name string) bool { return u.find(name) != nil }

// builtin returns the built-in emulator serving name, nil if none.
func (u *upstreams) builtin(name string) *emulator.Emulator {
	if up := u.find(name); up != nil {
		return up.shared
	}
	return nil
}

// url is the value of an upstream variable the stack sets.
func (u *upstreams) url(env, base string) (string, bool) {
	for _, up := range u.list {
		if up.emu.URLEnv != env {
			continue
		}
		if up.atRoot {
			return base, true
		}
		return base + emulatorPrefix + up.desc.Name, true
	}
	return "", false
}

// storeSecrets writes each emulator's credentials to a local credentials
// file that has none of them yet.
func (u *upstreams) storeSecrets(credentialsURL string) error {
	for _, up := range u.list {
		keys := make([]string, 0, len(up.desc.Secrets))
		for _, s := range up.desc.Secrets {
			if _, ok := up.emu.Secrets[s.Key]; ok {
				keys = append(keys, s.Key)
			}
		}
		if err := ensureMembers(credentialsURL, keys, up.emu.Secrets); err != nil {
			return err
		}
	}
	return nil
}

func (u *upstreams) mount(mux *http.ServeMux) {
	for _, up := range u.list {
		if up.atRoot {
			mux.Handle("POST /{$}", up.emu.Handler)
			continue
		}
		p := emulatorPrefix + up.desc.Name
		mux.Handle(p+"/", http.StripPrefix(p, up.emu.Handler))
	}
}

// banner prints where each provider's upstream is.
func (u *upstreams) banner(w io.Writer, base string) {
	for _, d := range providers.All() {
		up := u.find(d.Name)
		if up == nil {
			fmt.Fprintf(w, "  %s upstream: configured by the environment\n", d.Name)
			continue
		}
		where, _ := u.url(up.emu.URLEnv, base)
		if up.atRoot {
			where = "POST " + base + "/"
		}
		fmt.Fprintf(w, "  %s emulator: %s (set %s to use another upstream)\n", d.Name, where, up.emu.URLEnv)
	}
}

// Upstream returns the emulator the stack serves for provider name, nil if
// none (its upstream variable named another).
func (s *Stack) Upstream(name string) http.Handler {
	if up := s.upstreams.find(name); up != nil {
		return up.emu.Handler
	}
	return nil
}
