// Package config reads the functions' settings once, at start: from the map func-go
// passes to Start, falling back to the process environment.
package config

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the function image. Defaults suit a local run; the cluster
// sets the rest through each function's func.yaml. Each field names its variable in an
// envconfig tag, its default in a default tag, and, if its value may carry a secret, how
// the log masks it in a mask tag ("url": the password of a URL or DSN; "all": the whole
// value).
type Config struct {
	// Function names the route group to serve; empty serves all of them (local runs).
	// Knative's K_SERVICE is used when FUNCTION is unset.
	Function string `envconfig:"FUNCTION"`
	KService string `envconfig:"K_SERVICE"`

	DatabaseURL   string `envconfig:"DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/shortener?sslmode=disable" mask:"url"`
	DatabaseROURL string `envconfig:"DATABASE_RO_URL" mask:"url"`
	DBMaxConns    int32  `envconfig:"DB_MAX_CONNS" default:"10"`

	ValkeyURL            string        `envconfig:"VALKEY_URL" mask:"url"`
	ValkeySentinelAddrs  []string      `envconfig:"VALKEY_SENTINEL_ADDRS"`
	ValkeySentinelMaster string        `envconfig:"VALKEY_SENTINEL_MASTER" default:"myprimary"`
	ValkeyPassword       string        `envconfig:"VALKEY_PASSWORD" mask:"all"`
	ValkeyKeyPrefix      string        `envconfig:"VALKEY_KEY_PREFIX" default:"shortener:"`
	CacheTTL             time.Duration `envconfig:"CACHE_TTL" default:"30s"`

	// Sink is where CloudEvents go: the Broker in the cluster (K_SINK, set by a
	// SinkBinding), the events-writer's address locally.
	Sink                string        `envconfig:"K_SINK" mask:"url"`
	EventsWriterURL     string        `envconfig:"EVENTS_WRITER_URL" mask:"url"`
	OutboxRelayInterval time.Duration `envconfig:"OUTBOX_RELAY_INTERVAL" default:"5s"`
	ClickBatchSize      int           `envconfig:"CLICK_BATCH_SIZE" default:"256"`
	ClickFlushInterval  time.Duration `envconfig:"CLICK_FLUSH_INTERVAL" default:"20ms"`

	// BlockPrivateTargets refuses short links to loopback, private and link-local
	// addresses, for a public service whose users should not reach its own network.
	BlockPrivateTargets bool `envconfig:"BLOCK_PRIVATE_TARGETS" default:"false"`

	// PublicBaseURL is the origin of short links ("https://sho.rt"), for the QR codes;
	// empty builds it from each request's scheme and host.
	PublicBaseURL string `envconfig:"PUBLIC_BASE_URL"`

	BodyLimit int64 `envconfig:"BODY_LIMIT" default:"1048576"`
	BulkLimit int64 `envconfig:"BULK_LIMIT" default:"10485760"`
	// BulkTimeout is one bulk import's time budget, upload included; past it the import
	// is rolled back whole and answered 413.
	BulkTimeout time.Duration `envconfig:"BULK_TIMEOUT" default:"60s"`

	// AuthMode "keys" turns on API keys (see the spec's "Access control"); empty leaves
	// every route open. AdminAPIKey is an admin key that works while it is configured.
	AuthMode    string `envconfig:"AUTH_MODE"`
	AdminAPIKey string `envconfig:"ADMIN_API_KEY" mask:"all"`
	// RateLimitWrites ("60/m") limits POST/PUT/DELETE per key (per client address with
	// access control off); RateLimitRedirects limits redirects per client address. Empty
	// is no limit.
	RateLimitWrites    string `envconfig:"RATE_LIMIT_WRITES"`
	RateLimitRedirects string `envconfig:"RATE_LIMIT_REDIRECTS"`
	// TrustedProxies (comma-separated addresses or CIDRs) are the peers whose
	// X-Forwarded-For is believed when finding a client's address.
	TrustedProxies []string `envconfig:"TRUSTED_PROXIES"`
	// CORSAllowedOrigins (comma-separated, or *) turns on CORS for those origins.
	CORSAllowedOrigins []string `envconfig:"CORS_ALLOWED_ORIGINS"`

	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
}

// Load reads the configuration from the process environment alone: LoadFrom(nil).
func Load() (Config, error) { return LoadFrom(nil) }

// LoadFrom reads the configuration from args, the map func-go passes to Start (func.yaml's
// static values and the whole process environment), and reads the process environment
// for a variable args lacks, so a nil or partial map (a test's, a command's) still sees
// it. A variable present in args, even empty, wins over the environment; an absent one
// with neither takes its default. Values are parsed as envconfig parses them: an empty
// number or duration is an error, not the default.
func LoadFrom(args map[string]string) (Config, error) {
	lookup := func(key string) (string, bool) {
		if v, ok := args[key]; ok {
			return v, true
		}
		return os.LookupEnv(key)
	}
	var c Config
	if err := process(lookup, &c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if c.Function == "" {
		c.Function = c.KService
	}
	if c.Sink == "" {
		c.Sink = c.EventsWriterURL
	}
	if c.AuthMode != "" && c.AuthMode != "keys" {
		return c, fmt.Errorf("config: AUTH_MODE=%q: want keys, or empty for no access control", c.AuthMode)
	}
	return c, nil
}

// process sets each field of *c tagged envconfig from lookup, or from its default tag
// when lookup has no value. It reads the same tags as envconfig.Process, which can read
// only the process environment, for the field types Config has.
func process(lookup func(string) (string, bool), c *Config) error {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		ft := v.Type().Field(i)
		key := ft.Tag.Get("envconfig")
		if key == "" {
			continue
		}
		value, ok := lookup(key)
		if !ok {
			if value, ok = ft.Tag.Lookup("default"); !ok {
				continue
			}
		}
		if err := parse(value, v.Field(i)); err != nil {
			return fmt.Errorf("%s=%q: %w", key, value, err)
		}
	}
	return nil
}

var durationType = reflect.TypeFor[time.Duration]()

// parse sets f from s: strings as they are, integers in any Go base, durations, booleans
// as strconv reads them, and lists of strings separated by commas.
func parse(s string, f reflect.Value) error {
	switch {
	case f.Type() == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.CanInt():
		n, err := strconv.ParseInt(s, 0, f.Type().Bits())
		if err != nil {
			return err
		}
		f.SetInt(n)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
		var list []string
		if strings.TrimSpace(s) != "" {
			list = strings.Split(s, ",")
		}
		f.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("config: field type %s is not supported", f.Type())
	}
	return nil
}

// LogValue is the configuration as the log shows it: every variable by its name, with
// the secrets masked, durations and lists written as they are set.
func (c Config) LogValue() slog.Value {
	v := reflect.ValueOf(c)
	attrs := make([]slog.Attr, 0, v.NumField())
	for i := range v.NumField() {
		ft := v.Type().Field(i)
		key := ft.Tag.Get("envconfig")
		if key == "" {
			continue
		}
		f := v.Field(i)
		var val slog.Value
		switch {
		case f.Type() == durationType:
			val = slog.StringValue(time.Duration(f.Int()).String())
		case f.Kind() == reflect.String:
			val = slog.StringValue(Mask(ft.Tag.Get("mask"), f.String()))
		case f.Kind() == reflect.Slice:
			val = slog.StringValue(strings.Join(f.Interface().([]string), ","))
		default:
			val = slog.AnyValue(f.Interface())
		}
		attrs = append(attrs, slog.Attr{Key: key, Value: val})
	}
	return slog.GroupValue(attrs...)
}

// masked replaces a secret in the log.
const masked = "xxxxx"

// dsnPassword finds the password of a keyword/value connection string
// ("host=db password='a b'"), quoted or not.
var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// Mask hides the secret of s by how ("url": the password of a URL, in its user
// information or a password parameter, or of a keyword/value DSN; "all": all of it, if
// set; anything else: nothing). An empty value stays empty, so the log shows it unset.
func Mask(how, s string) string {
	if s == "" {
		return s
	}
	switch how {
	case "all":
		return masked
	case "url":
		u, err := url.Parse(s)
		if err != nil {
			return masked // cannot tell where the password is
		}
		if u.Scheme == "" {
			return dsnPassword.ReplaceAllString(s, "${1}"+masked)
		}
		if q := u.Query(); q.Has("password") {
			q.Set("password", masked)
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	return s
}
