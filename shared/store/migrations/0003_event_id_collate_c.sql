-- An event id is an opaque key, only ever compared for equality. Under the database's
-- default collation every comparison in its unique index went through the locale's rules
-- (strcoll), which made each click's insert about 6 % dearer for PostgreSQL; byte order
-- ("C") gives the same uniqueness for a memcmp. CloudNativePG creates databases with the C
-- locale already; this makes every database, a developer's too, behave the same.
ALTER TABLE events ALTER COLUMN event_id TYPE text COLLATE "C";
