package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

type testSettings struct {
	URL     string        `env:"T_URL" default:"https://example.invalid"`
	QPS     float64       `env:"T_QPS"`
	Quota   int           `env:"T_QUOTA"`
	Big     int64         `env:"T_BIG" default:"7"`
	On      bool          `env:"T_ON" default:"on"`
	Wait    time.Duration `env:"T_WAIT" default:"5s"`
	Skipped string
}

func (s *testSettings) Validate() error {
	if !strings.HasPrefix(s.URL, "https://") {
		return errors.New("config: T_URL must be https")
	}
	return nil
}

func TestReadSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want testSettings
		err  string
	}{
		{"defaults", nil, testSettings{URL: "https://example.invalid", Big: 7, On: true, Wait: 5 * time.Second}, ""},
		{"set", map[string]string{"T_URL": "https://x", "T_QPS": "2.5", "T_QUOTA": "10", "T_ON": "off", "T_WAIT": "1m", "Skipped": "no"},
			testSettings{URL: "https://x", QPS: 2.5, Quota: 10, Big: 7, Wait: time.Minute}, ""},
		{"negative number", map[string]string{"T_QUOTA": "-1"}, testSettings{}, "T_QUOTA must be a whole number"},
		{"bad rate", map[string]string{"T_QPS": "fast"}, testSettings{}, "T_QPS must be a number"},
		{"bad flag", map[string]string{"T_ON": "maybe"}, testSettings{}, "T_ON must be on or off"},
		{"bad duration", map[string]string{"T_WAIT": "-3s"}, testSettings{}, "T_WAIT must be a positive duration"},
		{"validated", map[string]string{"T_URL": "http://x"}, testSettings{}, "T_URL must be https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got testSettings
			err := ReadSettings(getenv(tc.env), &got)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if err := ReadSettings(getenv(nil), testSettings{}); err == nil {
		t.Error("a struct, not a pointer, accepted")
	}
}

// Credentials keep the secret's members no field names (a provider's own),
// and the environment's values win.
func TestCredentialsExtra(t *testing.T) {
	var c Credentials
	if err := c.UnmarshalJSON([]byte(`{"webankAppId":"A","acmeKey":"k","n":1}`)); err != nil {
		t.Fatal(err)
	}
	if c.WeBankAppID != "A" || c.Get("acmeKey") != "k" || c.Get("n") != "" {
		t.Fatalf("%+v", c)
	}
	env := Credentials{}
	env.Set("acmeKey", "from-env")
	env.Fill(c)
	if env.Get("acmeKey") != "from-env" || env.WeBankAppID != "A" || !env.Equal(env) || env.Equal(c) {
		t.Fatalf("%+v", env)
	}
	b, _ := env.MarshalJSON()
	var back Credentials
	if err := back.UnmarshalJSON(b); err != nil || !back.Equal(env) {
		t.Fatalf("%s: %+v %v", b, back, err)
	}
}
