-- Clicks are nearly every row of the log. An index on their type would hold them all and
-- answer no click query faster than the primary key, yet cost every click an index
-- insert; the rare types keep theirs. FindEvents repeats the predicate so the planner
-- can use it.
DROP INDEX events_type_idx;
CREATE INDEX events_type_idx ON events (event_type, id) WHERE event_type <> 'click';
