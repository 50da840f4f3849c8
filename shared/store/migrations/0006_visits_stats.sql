-- Visit limits and statistics (issue 13). New nullable or constant-default columns and new
-- tables only: PostgreSQL records the defaults in the catalog without rewriting urls, and
-- instances of the previous image never name any of it.
--
-- reserved_visits counts the redirects answered for a link with a max_visits: each one
-- takes a unit here in the transaction that writes its click event, so the limit is exact
-- across instances. Links without a limit never touch it.
ALTER TABLE urls ADD COLUMN max_visits      bigint;
ALTER TABLE urls ADD COLUMN reserved_visits bigint NOT NULL DEFAULT 0;

-- The click rollups, kept in the transaction that stores each click in the log, so that
-- every figure equals counting the log: per URL (click_totals, click_dim_totals) and per
-- URL and UTC day (click_days, click_dims). dim is referrer, browser, os or device. The
-- user's copies of user_id let a user's statistics be read without joining urls.
CREATE TABLE click_totals (
    url_id     bigint      PRIMARY KEY,
    user_id    bigint      NOT NULL,
    clicks     bigint      NOT NULL,
    bot_clicks bigint      NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL
);
CREATE INDEX click_totals_user_idx ON click_totals (user_id);
CREATE TABLE click_days (
    url_id     bigint      NOT NULL,
    day        date        NOT NULL,
    user_id    bigint      NOT NULL,
    clicks     bigint      NOT NULL,
    bot_clicks bigint      NOT NULL,
    first_at   timestamptz NOT NULL,
    last_at    timestamptz NOT NULL,
    PRIMARY KEY (url_id, day)
);
CREATE INDEX click_days_user_idx ON click_days (user_id, day);
CREATE TABLE click_dim_totals (
    url_id  bigint NOT NULL,
    dim     text   NOT NULL,
    name    text   COLLATE "C" NOT NULL,
    user_id bigint NOT NULL,
    clicks  bigint NOT NULL,
    PRIMARY KEY (url_id, dim, name)
);
CREATE INDEX click_dim_totals_user_idx ON click_dim_totals (user_id);
CREATE TABLE click_dims (
    url_id  bigint NOT NULL,
    day     date   NOT NULL,
    dim     text   NOT NULL,
    name    text   COLLATE "C" NOT NULL,
    user_id bigint NOT NULL,
    clicks  bigint NOT NULL,
    PRIMARY KEY (url_id, day, dim, name)
);
CREATE INDEX click_dims_user_idx ON click_dims (user_id, day);

-- Clicks stored before this migration are counted by Store.Migrate right after it (the
-- user agents are parsed in Go, by the same library as every later click).
