// Package config reads the functions' settings from the environment once, at start.
package config

import (
	"fmt"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Config is every setting of the function image. Defaults suit a local run; the cluster
// sets the rest through each function's func.yaml.
type Config struct {
	// Function names the route group to serve; empty serves all of them (local runs).
	// Knative's K_SERVICE is used when FUNCTION is unset.
	Function string `envconfig:"FUNCTION"`
	KService string `envconfig:"K_SERVICE"`

	DatabaseURL   string `envconfig:"DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/shortener?sslmode=disable"`
	DatabaseROURL string `envconfig:"DATABASE_RO_URL"`
	DBMaxConns    int32  `envconfig:"DB_MAX_CONNS" default:"10"`

	ValkeyURL            string        `envconfig:"VALKEY_URL"`
	ValkeySentinelAddrs  []string      `envconfig:"VALKEY_SENTINEL_ADDRS"`
	ValkeySentinelMaster string        `envconfig:"VALKEY_SENTINEL_MASTER" default:"myprimary"`
	ValkeyPassword       string        `envconfig:"VALKEY_PASSWORD"`
	ValkeyKeyPrefix      string        `envconfig:"VALKEY_KEY_PREFIX" default:"shortener:"`
	CacheTTL             time.Duration `envconfig:"CACHE_TTL" default:"30s"`

	// Sink is where CloudEvents go: the Broker in the cluster (K_SINK, set by a
	// SinkBinding), the events-writer's address locally.
	Sink                string        `envconfig:"K_SINK"`
	EventsWriterURL     string        `envconfig:"EVENTS_WRITER_URL"`
	OutboxRelayInterval time.Duration `envconfig:"OUTBOX_RELAY_INTERVAL" default:"5s"`
	ClickBatchSize      int           `envconfig:"CLICK_BATCH_SIZE" default:"256"`
	ClickFlushInterval  time.Duration `envconfig:"CLICK_FLUSH_INTERVAL" default:"20ms"`

	// BlockPrivateTargets refuses short links to loopback, private and link-local
	// addresses, for a public service whose users should not reach its own network.
	BlockPrivateTargets bool `envconfig:"BLOCK_PRIVATE_TARGETS" default:"false"`

	BodyLimit int64 `envconfig:"BODY_LIMIT" default:"1048576"`
	BulkLimit int64 `envconfig:"BULK_LIMIT" default:"10485760"`
	// BulkTimeout is one bulk import's time budget, upload included; past it the import
	// is rolled back whole and answered 413.
	BulkTimeout time.Duration `envconfig:"BULK_TIMEOUT" default:"60s"`

	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
}

// Load reads the environment.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if c.Function == "" {
		c.Function = c.KService
	}
	if c.Sink == "" {
		c.Sink = c.EventsWriterURL
	}
	return c, nil
}
