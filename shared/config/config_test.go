package config_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/urlshort/shortener/shared/config"
)

// TestLoadFromMapThenEnvironment: a key in the map wins over the environment, even empty;
// a key the map lacks is read from the environment; a key in neither takes its default.
func TestLoadFromMapThenEnvironment(t *testing.T) {
	t.Setenv("DB_MAX_CONNS", "7")
	t.Setenv("CACHE_TTL", "1m")
	t.Setenv("VALKEY_KEY_PREFIX", "env:")
	t.Setenv("LOG_LEVEL", "debug")
	t.Setenv("CLICK_BATCH_SIZE", "")
	unset(t, "VALKEY_SENTINEL_MASTER", "BODY_LIMIT")
	c, err := config.LoadFrom(map[string]string{
		"CACHE_TTL":             "2s",
		"VALKEY_KEY_PREFIX":     "", // set, empty: no prefix, not the environment's
		"VALKEY_SENTINEL_ADDRS": "a:26379,b:26379",
		"BLOCK_PRIVATE_TARGETS": "true",
		"CLICK_BATCH_SIZE":      "0x10",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"map over environment", c.CacheTTL, 2 * time.Second},
		{"empty in the map", c.ValkeyKeyPrefix, ""},
		{"map over an empty environment value", c.ClickBatchSize, 16},
		{"environment when the map lacks it", c.DBMaxConns, int32(7)},
		{"environment string", c.LogLevel, "debug"},
		{"default", c.ValkeySentinelMaster, "myprimary"},
		{"default number", c.BodyLimit, int64(1 << 20)},
		{"list", c.ValkeySentinelAddrs, []string{"a:26379", "b:26379"}},
		{"bool", c.BlockPrivateTargets, true},
	} {
		if !reflect.DeepEqual(tc.got, tc.want) {
			t.Errorf("%s: got %#v, want %#v", tc.name, tc.got, tc.want)
		}
	}
}

// TestLoadFromDerived: FUNCTION falls back to Knative's K_SERVICE and K_SINK to
// EVENTS_WRITER_URL, from the map as from the environment.
func TestLoadFromDerived(t *testing.T) {
	c, err := config.LoadFrom(map[string]string{"FUNCTION": "", "K_SERVICE": "users", "K_SINK": "", "EVENTS_WRITER_URL": "http://w/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Function != "users" || c.Sink != "http://w/" {
		t.Errorf("function %q, sink %q; want users and http://w/", c.Function, c.Sink)
	}
	c, err = config.LoadFrom(map[string]string{"FUNCTION": "urls", "K_SERVICE": "users", "K_SINK": "http://broker/", "EVENTS_WRITER_URL": "http://w/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Function != "urls" || c.Sink != "http://broker/" {
		t.Errorf("function %q, sink %q; want the ones set", c.Function, c.Sink)
	}
}

// TestLoadFromBadValue names the variable whose value does not parse, as envconfig did,
// including an empty number (set, so not defaulted).
func TestLoadFromBadValue(t *testing.T) {
	for key, value := range map[string]string{"DB_MAX_CONNS": "many", "CACHE_TTL": "30", "BLOCK_PRIVATE_TARGETS": "yes", "BODY_LIMIT": ""} {
		_, err := config.LoadFrom(map[string]string{key: value})
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s=%q: error %v, want one naming %s", key, value, err, key)
		}
	}
}

// TestLoadReadsTheEnvironment: Load, with no map, is the environment and the defaults.
func TestLoadReadsTheEnvironment(t *testing.T) {
	t.Setenv("FUNCTION", "redirect")
	unset(t, "DATABASE_URL")
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Function != "redirect" || c.DatabaseURL != "postgres://postgres@127.0.0.1:5432/shortener?sslmode=disable" {
		t.Errorf("function %q, database %q", c.Function, c.DatabaseURL)
	}
}

func TestMask(t *testing.T) {
	for _, tc := range []struct{ how, in, want string }{
		{"url", "postgres://app:s3cret@db:5432/shortener?sslmode=require", "postgres://app:xxxxx@db:5432/shortener?sslmode=require"},
		{"url", "postgres://app@db/shortener?password=s3cret&sslmode=disable", "postgres://app@db/shortener?password=xxxxx&sslmode=disable"},
		{"url", "postgres://app@db/shortener", "postgres://app@db/shortener"},
		{"url", "host=db user=app password=s3cret dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"url", "host=db password='s3 cr\\'et' dbname=x", "host=db password=xxxxx dbname=x"},
		{"url", "redis://:s3cret@valkey:6379/0", "redis://:xxxxx@valkey:6379/0"},
		{"url", "redis://default:s3cret@valkey:6379/0", "redis://default:xxxxx@valkey:6379/0"},
		{"url", "postgres://app:s3%cret@db/x", "xxxxx"}, // unparsable: all of it
		{"url", "", ""},
		{"all", "s3cret", "xxxxx"},
		{"all", "", ""},
		{"", "s3cret", "s3cret"},
	} {
		if got := config.Mask(tc.how, tc.in); got != tc.want {
			t.Errorf("Mask(%q, %q) = %q, want %q", tc.how, tc.in, got, tc.want)
		}
	}
}

// TestLogValueMasksSecrets logs a configuration with a password in every place one can
// be and checks the line names every variable and holds no password.
func TestLogValueMasksSecrets(t *testing.T) {
	c, err := config.LoadFrom(map[string]string{
		"DATABASE_URL":          "postgres://app:s3cret@db/shortener",
		"DATABASE_RO_URL":       "host=ro password=s3cret",
		"VALKEY_URL":            "redis://:s3cret@valkey:6379/0",
		"VALKEY_PASSWORD":       "s3cret",
		"K_SINK":                "http://user:s3cret@broker/",
		"VALKEY_SENTINEL_ADDRS": "a:1,b:2",
		"CACHE_TTL":             "45s",
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("configuration", "config", c)
	if strings.Contains(buf.String(), "s3cret") || strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("log line leaks a password or is not one line: %s", buf.String())
	}
	var line struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"DATABASE_URL":          "postgres://app:xxxxx@db/shortener",
		"DATABASE_RO_URL":       "host=ro password=xxxxx",
		"VALKEY_URL":            "redis://:xxxxx@valkey:6379/0",
		"VALKEY_PASSWORD":       "xxxxx",
		"K_SINK":                "http://user:xxxxx@broker/",
		"VALKEY_SENTINEL_ADDRS": "a:1,b:2",
		"CACHE_TTL":             "45s",
		"DB_MAX_CONNS":          float64(c.DBMaxConns),
		"BLOCK_PRIVATE_TARGETS": c.BlockPrivateTargets,
	}
	for k, v := range want {
		if line.Config[k] != v {
			t.Errorf("%s logged as %#v, want %#v", k, line.Config[k], v)
		}
	}
	if n := reflect.TypeFor[config.Config]().NumField(); len(line.Config) != n {
		t.Errorf("%d variables logged, Config has %d fields: %v", len(line.Config), n, line.Config)
	}
}

// unset removes keys from the environment for the rest of the test.
func unset(t *testing.T, keys ...string) {
	t.Helper()
	for _, key := range keys {
		t.Setenv(key, "") // registers the restore
		if err := os.Unsetenv(key); err != nil {
			t.Fatal(err)
		}
	}
}
