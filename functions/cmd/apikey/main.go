// Command apikey creates, lists and revokes API keys straight in the database, for an
// operator who has lost every admin key (or wants one without going through the API):
//
//	apikey create -name ops -scopes admin [-user 7] [-expires 2027-01-01T00:00:00Z]
//	apikey list
//	apikey revoke -id 12
//
// It reads DATABASE_URL (and VALKEY_URL, VALKEY_PASSWORD, VALKEY_KEY_PREFIX, to drop a
// revoked key from every instance's cache at once) as the functions do. Its
// api_key_created and api_key_revoked events go to the outbox, which the events-writer
// drains, like every other mutation's.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urlshort/shortener/shared/access"
	"github.com/urlshort/shortener/shared/cache"
	"github.com/urlshort/shortener/shared/config"
	"github.com/urlshort/shortener/shared/domain"
	"github.com/urlshort/shortener/shared/events"
	"github.com/urlshort/shortener/shared/store"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "apikey:", err)
		}
		os.Exit(1)
	}
}

const usage = "usage: apikey create -name NAME -scopes read,write,admin [-user ID] [-expires RFC3339] | apikey list | apikey revoke -id ID"

// run is main without the process around it, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("apikey "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "what the key is for (create)")
	scopes := fs.String("scopes", "", "comma-separated: read, write, admin (create)")
	user := fs.Int64("user", 0, "the user the key belongs to; 0: every user (create)")
	expires := fs.String("expires", "", "RFC 3339 instant the key stops working (create)")
	id := fs.Int64("id", 0, "the key to revoke (revoke)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{URL: cfg.DatabaseURL, MaxConns: 2}, events.NewAuditor("apikey"))
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	switch args[0] {
	case "create":
		n, err := newKey(*name, *scopes, *user, *expires)
		if err != nil {
			return err
		}
		secret, hash, prefix := access.NewKey()
		n.Hash, n.Prefix = hash, prefix
		w, err := st.CreateAPIKey(ctx, n)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "apikey: created key %d (%s, %s); it is shown once:\n", w.Value.ID, w.Value.Name, strings.Join(w.Value.Scopes, ","))
		fmt.Fprintln(stdout, secret)
	case "list":
		keys, _, err := st.FindAPIKeys(ctx, domain.Page{})
		if err != nil {
			return err
		}
		for _, k := range keys {
			user, exp := "every user", "never"
			if k.UserID != nil {
				user = fmt.Sprintf("user %d", *k.UserID)
			}
			if k.ExpiresAt != nil {
				exp = k.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%d\t%s…\t%s\t%s\t%s\texpires %s\n", k.ID, k.Prefix, k.Name, strings.Join(k.Scopes, ","), user, exp)
		}
	case "revoke":
		if *id <= 0 {
			return errors.New("revoke needs -id")
		}
		w, err := st.RevokeAPIKey(ctx, *id)
		if err != nil {
			return err
		}
		if cfg.ValkeyURL != "" || len(cfg.ValkeySentinelAddrs) > 0 {
			c, err := cache.New(cache.Options{URL: cfg.ValkeyURL, SentinelAddrs: cfg.ValkeySentinelAddrs,
				SentinelMaster: cfg.ValkeySentinelMaster, Password: cfg.ValkeyPassword, KeyPrefix: cfg.ValkeyKeyPrefix, TTL: cfg.CacheTTL})
			if err == nil {
				err = c.InvalidatePrincipal(ctx, w.Value)
				c.Close()
			}
			if err != nil {
				fmt.Fprintf(stderr, "apikey: revoked, but the caches could not be told (%v): instances may accept the key until CACHE_TTL (%v) passes\n", err, cfg.CacheTTL)
			}
		}
		fmt.Fprintf(stdout, "revoked key %d\n", *id)
	default:
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	return nil
}

// newKey checks create's flags as POST /api-keys checks its body.
func newKey(name, scopes string, user int64, expires string) (domain.NewAPIKey, error) {
	n := domain.NewAPIKey{Name: name}
	if name == "" {
		return n, errors.New("create needs -name")
	}
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if _, ok := domain.ScopeNames[s]; !ok {
				return n, fmt.Errorf("unknown scope %q: want read, write or admin", s)
			}
			n.Scopes = append(n.Scopes, s)
		}
	}
	if len(n.Scopes) == 0 {
		return n, errors.New("create needs -scopes")
	}
	if user > 0 {
		n.UserID = &user
	}
	if expires != "" {
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil || !t.After(time.Now()) {
			return n, fmt.Errorf("-expires %q: want a future RFC 3339 instant", expires)
		}
		t = t.UTC()
		n.ExpiresAt = &t
	}
	return n, nil
}
