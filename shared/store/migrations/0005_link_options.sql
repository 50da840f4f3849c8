-- Link options (issue 13): when a link redirects, and its tags. New columns are nullable
-- or have a constant default, which PostgreSQL records in the catalog without rewriting
-- the table, so instances of the previous image (which never name them) run on unharmed.
ALTER TABLE urls ADD COLUMN expires_at  timestamptz;
ALTER TABLE urls ADD COLUMN valid_since timestamptz;
ALTER TABLE urls ADD COLUMN tags        text[] NOT NULL DEFAULT '{}';
CREATE INDEX urls_tags_idx ON urls USING gin (tags) WHERE deleted_at IS NULL;
