-- Inserts go to a GIN index's pending list, and the insert that finds the
-- list past its limit moves all of it into the index before it returns.
-- With the default 4 MB, that insert's batch stalled for 300-500 ms under
-- load (docs/BENCHMARKS.md); a 256 kB list is moved more often, each time
-- in a few milliseconds. Ticket rows are rewritten by every batch that
-- writes to them, so their index fills as fast.
ALTER INDEX messages_busqueda SET (gin_pending_list_limit = 256);
ALTER INDEX tickets_busqueda SET (gin_pending_list_limit = 256);
ALTER INDEX users_busqueda SET (gin_pending_list_limit = 256);
