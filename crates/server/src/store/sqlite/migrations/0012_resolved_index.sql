-- Resolved tickets by when, for the sweep that closes idle ones. Led by
-- `estado`, not partial: without ANALYZE statistics SQLite's planner prefers
-- an equality on `tickets_by_state` to a partial index. A message writes none
-- of these columns, so the index costs nothing on the hot path.
CREATE INDEX tickets_resolved ON tickets (estado, resuelto_at);
