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

-- Products. Money is a whole number of cents in a BIGINT: exact on every backend
-- (the same migrations run on SQLite, where a DECIMAL would be read back as a float).
CREATE TABLE IF NOT EXISTS products (
    id          INT          NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(100) NOT NULL,
    sku         VARCHAR(64)  NOT NULL UNIQUE,
    price_cents BIGINT       NOT NULL CHECK (price_cents > 0),
    created_at  TIMESTAMP    NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One stock row per product, deleted with it. Orders decrement it with
-- quantity >= n in the WHERE clause, and the CHECK catches anything else.
CREATE TABLE IF NOT EXISTS stocks (
    product_id INT NOT NULL PRIMARY KEY,
    quantity   INT NOT NULL DEFAULT 0 CHECK (quantity >= 0),
    CONSTRAINT fk_stocks_product
        FOREIGN KEY (product_id) REFERENCES products (id)
        ON DELETE CASCADE ON UPDATE RESTRICT
);

-- Orders. A user with orders cannot be deleted.
CREATE TABLE IF NOT EXISTS orders (
    id          INT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id     INT       NOT NULL,
    total_cents BIGINT    NOT NULL,
    is_paid     BOOL      NOT NULL DEFAULT FALSE,
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT fk_orders_user
        FOREIGN KEY (user_id) REFERENCES users (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT
);

-- Order lines, with the unit price at the time of the order. They go with their
-- order, and a product on an order cannot be deleted.
CREATE TABLE IF NOT EXISTS order_items (
    id               INT    NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id         INT    NOT NULL,
    product_id       INT    NOT NULL,
    quantity         INT    NOT NULL,
    unit_price_cents BIGINT NOT NULL,
    CONSTRAINT fk_order_items_order
        FOREIGN KEY (order_id) REFERENCES orders (id)
        ON DELETE CASCADE ON UPDATE RESTRICT,
    CONSTRAINT fk_order_items_product
        FOREIGN KEY (product_id) REFERENCES products (id)
        ON DELETE RESTRICT ON UPDATE RESTRICT,
    -- Best sellers group order lines by product.
    INDEX idx_order_items_product_id (product_id)
);

-- Which store-manager replica publishes the outbox. Only the holder of an unexpired
-- lease publishes, so rows go out one at a time in id order even with several replicas.
-- The single row starts free (no owner, expired long ago).
CREATE TABLE IF NOT EXISTS outbox_lease (
    name       VARCHAR(64) NOT NULL PRIMARY KEY,
    owner      VARCHAR(64) NOT NULL,
    expires_at DATETIME(6) NOT NULL
);

INSERT IGNORE INTO outbox_lease (name, owner, expires_at) VALUES
    ('outbox', '', '1970-01-01 00:00:00');

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
    ('Jane Doe',       'jdoe@magasinducoin.ca', 2),
    ('Da Boss',        'dboss@magasinducoin.ca', 3);

-- The lab's products and their stock, as SEED_PRODUCTS in db/src/lib.rs (ids 1 to 4).
INSERT IGNORE INTO products (id, name, sku, price_cents) VALUES
    (1, 'Laptop ABC',         'LP12567', 199999),
    (2, 'Keyboard DEF',       'KB67890', 5950),
    (3, 'Gadget XYZ',         'GG12345', 575),
    (4, '27-inch Screen WYZ', 'SC27289', 29975);

INSERT IGNORE INTO stocks (product_id, quantity) VALUES
    (1, 1000),
    (2, 500),
    (3, 2),
    (4, 90);

-- The sea-orm-migration bookkeeping table, as Migrator::up creates it.
-- Recording the migrations as applied lets store-manager start on a database
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
    ('m20251109_000003_outbox',     UNIX_TIMESTAMP()),
    ('m20251125_000004_store',      UNIX_TIMESTAMP()),
    ('m20251125_000005_outbox_lease', UNIX_TIMESTAMP()),
    ('m20261204_000006_lab_emails', UNIX_TIMESTAMP());
