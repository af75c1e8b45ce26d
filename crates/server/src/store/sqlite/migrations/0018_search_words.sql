-- The words the full-text indexes hold, for prefix searches
-- (store/sqlite/words.rs): a prefix is searched as the whole words it
-- starts, which FTS5 walks lazily, instead of FTS5's own prefix matching,
-- which merges every matching doclist first. The writer adds the words of
-- what it writes; what is already stored is read from the indexes below.
CREATE TABLE search_words (word TEXT PRIMARY KEY) WITHOUT ROWID;
