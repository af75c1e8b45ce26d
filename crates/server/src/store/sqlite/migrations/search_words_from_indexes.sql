-- Every word of the three full-text indexes into search_words, but numbers
-- (words of digits only: see words.rs).
CREATE VIRTUAL TABLE temp.words_of_messages USING fts5vocab(main, messages_fts, row);
CREATE VIRTUAL TABLE temp.words_of_tickets USING fts5vocab(main, tickets_fts, row);
CREATE VIRTUAL TABLE temp.words_of_users USING fts5vocab(main, users_fts, row);
INSERT OR IGNORE INTO search_words (word)
    SELECT term FROM (
        SELECT term FROM temp.words_of_messages
        UNION SELECT term FROM temp.words_of_tickets
        UNION SELECT term FROM temp.words_of_users
    ) WHERE term GLOB '*[^0-9]*';
DROP TABLE temp.words_of_messages;
DROP TABLE temp.words_of_tickets;
DROP TABLE temp.words_of_users;
