-- The schema of the store for MySQL 8 / MariaDB, written by hand.
--
-- This is the same schema as the sea-orm migrations in db/src (the source of truth),
-- for people to read and for the docker-compose MySQL container, which runs it from
-- /docker-entrypoint-initdb.d against the database named by MYSQL_DATABASE. That is
-- why no database is named or selected here. db/tests/init_sql.rs checks that this
-- file and the migrations build the same tables, keys, seed rows and migration records.
--
-- Every statement may be run twice without harm: tables are created only if missing
-- and seed rows that already exist are skipped.
--
-- Comments hold no semicolons or quotes, so even a naive statement splitter copes.

-- User types. Not AUTO_INCREMENT: the ids 1, 2, 3 are part of the event contract.
-- The inline UNIQUE makes an index named after its column, as the migration does.
CREATE TABLE IF NOT EXISTS user_types (
    id   INT         NOT NULL PRIMARY KEY,
    name VARCHAR(50) NOT NULL UNIQUE
);

-- Users. A user type in use cannot be deleted or renumbered (RESTRICT both ways).
CREATE TABLE IF NOT EXISTS users (
    id           INT          NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(100) NOT NULL,
    email        VARCHAR(150) NOT NULL UNIQUE,
    user_type_id INT          NOT NULL,
    created_at   TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_users_user_type
        FOREIGN KEY (user_type_id) REFERENCES user_types (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT
);

-- The transactional outbox the store publishes events from.
-- id is the publication order: rows are published strictly by id.
-- event_id holds a UUID in its 36-character text form.
-- topic is at most 249 characters, the longest name Kafka allows.
-- created_at and published_at are DATETIME(6), UTC instants with microseconds:
-- the commit-to-ack latency is measured from created_at, and a plain TIMESTAMP
-- keeps whole seconds only and ends in 2038. The pool session time zone is UTC.
-- published_at is NULL until the row has been published.
CREATE TABLE IF NOT EXISTS outbox (
    id           BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    event_id     VARCHAR(36)  NOT NULL UNIQUE,
    topic        VARCHAR(249) NOT NULL,
    event_key    VARCHAR(255) NOT NULL,
    event_type   VARCHAR(100) NOT NULL,
    payload      TEXT         NOT NULL,
    created_at   DATETIME(6)  NOT NULL,
    published_at DATETIME(6)  NULL,
    attempts     INT          NOT NULL DEFAULT 0,
    last_error   TEXT         NULL,
    -- The publisher asks for the oldest unpublished rows (published_at IS NULL, by id)
    -- and the cleaner for rows published before some instant.
    INDEX idx_outbox_published_at_id (published_at, id)
);

-- The seed rows, the same as SEED_USER_TYPES and SEED_USERS in db/src/lib.rs.
-- IGNORE skips rows whose key already exists, so a second run adds nothing.
INSERT IGNORE INTO user_types (id, name) VALUES
    (1, 'Client'),
    (2, 'Employee'),
    (3, 'Manager');

-- Inserted in this order, the users get the ids 1 to 5, as with the migrations.
INSERT IGNORE INTO users (name, email, user_type_id) VALUES
    ('Ada Lovelace',   'alovelace@example.com', 1),
    ('Adele Goldberg', 'agoldberg@example.com', 1),
    ('Alan Turing',    'aturing@example.com',   1),
    ('Jane Doe',       'jdoe@example.com',      2),
    ('Da Boss',        'dboss@example.com',     3);

-- The sea-orm-migration bookkeeping table, as Migrator::up creates it.
-- Recording the three migrations as applied lets store-manager start on a database
-- made by this script: its Migrator::up then finds nothing pending, instead of
-- re-running the migrations and failing on the seed rows that already exist.
-- applied_at is in Unix seconds, as sea-orm-migration writes it.
CREATE TABLE IF NOT EXISTS seaql_migrations (
    version    VARCHAR(255) NOT NULL PRIMARY KEY,
    applied_at BIGINT       NOT NULL
);

INSERT IGNORE INTO seaql_migrations (version, applied_at) VALUES
    ('m20251109_000001_user_types', UNIX_TIMESTAMP()),
    ('m20251109_000002_users',      UNIX_TIMESTAMP()),
    ('m20251109_000003_outbox',     UNIX_TIMESTAMP());
