#include "Migrations.h"

namespace meldpunt::storage {

const std::vector<Migration>& migrations()
{
    static const std::vector<Migration> list = {
        {1, "intake keys, ingested spool entries and reports", R"SQL(
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- The private halves of the intake keys that meldpunt-public encrypts
-- spool entries to. A row is deleted once every entry made with it is
-- ingested, so remnants of old entries on flash become unreadable.
CREATE TABLE intake_keys (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    public_key BLOB NOT NULL CHECK (length(public_key) = 32),
    private_key BLOB NOT NULL CHECK (length(private_key) = 32),
    created_at TEXT NOT NULL,
    retired_at TEXT
) STRICT;

-- Every spool entry ingested, whatever its kind. The primary key makes
-- ingestion idempotent: an entry whose file survived a crash after the
-- commit is recognised and removed, never stored twice.
CREATE TABLE spool_entries (
    entry_uuid BLOB PRIMARY KEY CHECK (length(entry_uuid) = 16),
    kind INTEGER NOT NULL,
    ingested_at TEXT NOT NULL
) STRICT;

CREATE TABLE reports (
    id INTEGER PRIMARY KEY,
    entry_uuid BLOB NOT NULL UNIQUE REFERENCES spool_entries (entry_uuid),
    reference TEXT NOT NULL UNIQUE,
    received_at TEXT NOT NULL,
    ingested_at TEXT NOT NULL,
    language TEXT NOT NULL,
    channel TEXT NOT NULL,
    category TEXT NOT NULL,
    country TEXT NOT NULL,
    place TEXT NOT NULL,
    occurred TEXT NOT NULL,
    what TEXT NOT NULL,
    anonymous INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
    contact_name TEXT,
    contact_email TEXT,
    contact_phone TEXT,
    consent INTEGER NOT NULL CHECK (consent IN (0, 1)),
    status TEXT NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'acknowledged', 'in_progress', 'referred', 'closed'))
) STRICT;
)SQL"},
        {2, "key events", R"SQL(
-- What happened to the keys, for the audit: ids and event names only,
-- never key material.
CREATE TABLE key_events (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('created', 'recovered', 'rotated', 'backup_written',
        'restored', 'recovery_key_replaced')),
    detail TEXT NOT NULL DEFAULT ''
) STRICT;
)SQL"},
        {3, "complaints about the hotline", R"SQL(
-- Feedback and complaints about the hotline itself, for the coordinator.
CREATE TABLE complaints (
    id INTEGER PRIMARY KEY,
    entry_uuid BLOB NOT NULL UNIQUE REFERENCES spool_entries (entry_uuid),
    received_at TEXT NOT NULL,
    language TEXT NOT NULL,
    message TEXT NOT NULL,
    email TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'answered', 'closed'))
) STRICT;
)SQL"},
        {4, "visit counts", R"SQL(
-- Page views per day, page and language for the yearly figures: counts
-- only, no cookie, no address, nothing finer than a day.
CREATE TABLE visit_counts (
    day TEXT NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    page TEXT NOT NULL,
    language TEXT NOT NULL,
    count INTEGER NOT NULL CHECK (count >= 0),
    PRIMARY KEY (day, page, language)
) STRICT;
)SQL"},
        {6, "receipts, reporter messages and withdrawals", R"SQL(
-- What a reporter's receipt secret left: its Argon2id hash and the public
-- key replies are encrypted to. Never the secret. needs_publish marks a
-- receipt whose file in the publish folder is out of date.
CREATE TABLE receipts (
    report_id INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,
    public_key BLOB NOT NULL CHECK (length(public_key) = 32),
    withdrawn_at TEXT,
    needs_publish INTEGER NOT NULL DEFAULT 1 CHECK (needs_publish IN (0, 1))
) STRICT;

-- Messages between staff and a reporter on a return visit, both ways.
-- A reporter's message comes from a follow-up spool entry.
CREATE TABLE reporter_messages (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('to_reporter', 'from_reporter')),
    entry_uuid BLOB UNIQUE REFERENCES spool_entries (entry_uuid),
    at TEXT NOT NULL,
    body TEXT NOT NULL
) STRICT;
CREATE INDEX reporter_messages_by_report ON reporter_messages (report_id, id);

-- Acknowledgement e-mails waiting for the relay, sent, or given up on.
-- They carry only the reference; the address is cleared once sent.
CREATE TABLE email_outbox (
    id INTEGER PRIMARY KEY,
    report_id INTEGER REFERENCES reports (id) ON DELETE CASCADE,
    recipient TEXT NOT NULL,
    language TEXT NOT NULL,
    reference TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    sent_at TEXT
) STRICT;
CREATE INDEX email_outbox_due ON email_outbox (state, next_attempt_at);
)SQL"},
    };
    return list;
}

int schemaVersion(Database& database)
{
    auto statement = database.prepare("PRAGMA user_version");
    return statement.step() ? static_cast<int>(statement.columnInt(0)) : 0;
}

int migrate(Database& database)
{
    const int current = schemaVersion(database);
    const int newest = migrations().back().version;
    if (current > newest)
        throw DatabaseError(DatabaseError::Kind::Other,
            "database schema version " + std::to_string(current) + " is newer than this meldpuntd ("
                + std::to_string(newest) + "); install the newer release again");
    int applied = 0;
    for (const auto& migration : migrations()) {
        if (migration.version <= current)
            continue;
        database.transaction([&] {
            database.exec(migration.sql);
            database.exec("PRAGMA user_version = " + std::to_string(migration.version));
        });
        ++applied;
    }
    return applied;
}

} // namespace meldpunt::storage
