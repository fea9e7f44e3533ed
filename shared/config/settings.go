package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ReadSettings fills the struct v points to from the environment: each
// exported field tagged env:"NAME" takes NAME's value, else the default:"…"
// tag's. Strings, whole numbers (not negative), floats (not negative),
// booleans (on/off, true/false, 1/0) and durations (positive) are read;
// an ill-formed value names its variable. Then v's Validate() error, if it
// has one, is called. A provider's settings are read this way
// (providers.Descriptor.Settings): config names none of them. (The
// credentials secret's members of the first three providers keep their
// named fields in Credentials, the secret's documented schema; a new
// provider's are in Credentials.Extra.)
func ReadSettings(getenv func(string) string, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return errors.New("config: settings must be a pointer to a struct")
	}
	s := rv.Elem()
	t := s.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("env")
		if key == "" || !f.IsExported() {
			continue
		}
		raw := strings.TrimSpace(getenv(key))
		if raw == "" {
			raw = f.Tag.Get("default")
		}
		if raw == "" {
			continue
		}
		if err := setField(s.Field(i), key, raw); err != nil {
			return err
		}
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		return val.Validate()
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func setField(f reflect.Value, key, raw string) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(raw)
		if err != nil || d <= 0 {
			return fmt.Errorf("config: %s must be a positive duration such as 20m", key)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(raw)
	case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("config: %s must be a whole number (0: none)", key)
		}
		f.SetInt(n)
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil || x < 0 || x > 1e6 {
			return fmt.Errorf("config: %s must be a number such as 10 (0: none)", key)
		}
		f.SetFloat(x)
	case f.Kind() == reflect.Bool:
		switch strings.ToLower(raw) {
		case "on", "true", "1", "yes":
			f.SetBool(true)
		case "off", "false", "0", "no":
			f.SetBool(false)
		default:
			return fmt.Errorf("config: %s must be on or off", key)
		}
	default:
		return fmt.Errorf("config: %s: a setting of type %s cannot be read", key, f.Type())
	}
	return nil
}
