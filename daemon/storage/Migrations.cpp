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
        {5, "the report form's detailed answers", R"SQL(
-- The answers beyond the first questions: why it seemed suspicious, the
-- place, the people involved, what others already did, and the optional
-- answers for the yearly figures. An empty text means "not answered".
-- Choice columns hold the form's option values, never free text.
CREATE TABLE report_details (
    report_id INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    why_suspicious TEXT NOT NULL,
    city TEXT NOT NULL,
    venue_type TEXT NOT NULL,
    urls TEXT NOT NULL,
    suspect_count TEXT NOT NULL,
    suspect_age TEXT NOT NULL,
    suspect_gender TEXT NOT NULL,
    suspect_description TEXT NOT NULL,
    suspect_language TEXT NOT NULL,
    child_count TEXT NOT NULL,
    child_age TEXT NOT NULL,
    child_gender TEXT NOT NULL,
    child_description TEXT NOT NULL,
    child_language TEXT NOT NULL,
    action_taken TEXT NOT NULL,
    remarks TEXT NOT NULL,
    reporter_age TEXT NOT NULL,
    reporter_gender TEXT NOT NULL,
    found_via TEXT NOT NULL
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
        {7, "attachments and their keys", R"SQL(
-- One random key per report with attachments. It wraps the file key of
-- each attachment, so deleting this row makes every file of the report
-- unreadable, wherever copies of the files remain.
CREATE TABLE report_keys (
    report_id INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    key BLOB NOT NULL CHECK (length(key) = 32)
) STRICT;

-- The attachments' metadata. The bytes live in the state's attachments
-- folder as <file_id>.att, encrypted under the file key that wrapped_key
-- holds (nonce, sealed key, tag). sha256 is of the original as the
-- reporter's browser sent it, taken by meldpunt-public while it streamed
-- in and checked again at ingestion, for the chain of custody.
CREATE TABLE attachments (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    position INTEGER NOT NULL CHECK (position >= 0),
    file_id TEXT NOT NULL UNIQUE CHECK (length(file_id) = 32),
    name TEXT NOT NULL,
    media_type TEXT NOT NULL,
    size INTEGER NOT NULL CHECK (size >= 0),
    sha256 BLOB NOT NULL CHECK (length(sha256) = 32),
    wrapped_key BLOB NOT NULL CHECK (length(wrapped_key) = 60),
    uploaded_at TEXT NOT NULL,
    UNIQUE (report_id, position)
) STRICT;
)SQL"},
        {8, "staff accounts, sessions, audit log and case work", R"SQL(
-- Staff members. The password is an Argon2id hash in the encoded form
-- of libargon2. The TOTP secret is enrolled at the first login and only
-- then confirmed; totp_last_step rejects a code used twice.
CREATE TABLE staff_accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'coordinator', 'caseworker', 'auditor')),
    password_hash TEXT NOT NULL,
    totp_secret BLOB,
    totp_confirmed INTEGER NOT NULL DEFAULT 0 CHECK (totp_confirmed IN (0, 1)),
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    disabled_at TEXT
) STRICT;

-- One-time recovery codes for a lost second factor, as SHA-256 hashes.
CREATE TABLE staff_recovery_codes (
    account_id INTEGER NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL CHECK (length(code_hash) = 32),
    PRIMARY KEY (account_id, code_hash)
) STRICT;

-- One-time codes that let whoever holds them create an admin: the first
-- one at the first start, later ones from the recovery key on the console.
CREATE TABLE staff_setup_codes (
    code_hash BLOB PRIMARY KEY CHECK (length(code_hash) = 32),
    created_at TEXT NOT NULL
) STRICT;

-- Sessions by the SHA-256 of their cookie value, so that a copy of the
-- database does not hand out live sessions. Times are Unix seconds.
CREATE TABLE staff_sessions (
    id_hash BLOB PRIMARY KEY CHECK (length(id_hash) = 32),
    account_id INTEGER NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    stage TEXT NOT NULL CHECK (stage IN ('second_factor', 'enrol', 'full')),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL
) STRICT;
CREATE INDEX staff_sessions_account ON staff_sessions (account_id);

-- The audit log: ids and action names only. Each entry's hash covers its
-- fields and the previous entry's hash. Entries cannot be changed, and
-- only entries up to the newest checkpoint can be deleted.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    account_id INTEGER,
    username TEXT NOT NULL,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    object_type TEXT NOT NULL,
    object_id TEXT NOT NULL,
    previous_hash BLOB NOT NULL CHECK (length(previous_hash) = 32),
    hash BLOB NOT NULL CHECK (length(hash) = 32)
) STRICT;
CREATE TABLE audit_checkpoints (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    last_entry_id INTEGER NOT NULL,
    last_entry_hash BLOB NOT NULL CHECK (length(last_entry_hash) = 32)
) STRICT;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
CREATE TRIGGER audit_log_prune_only BEFORE DELETE ON audit_log
WHEN OLD.id > (SELECT coalesce(max(last_entry_id), 0) FROM audit_checkpoints)
BEGIN
    SELECT RAISE(ABORT, 'audit entries after the newest checkpoint cannot be deleted');
END;

-- Case work beside each report: who has it, what came of it, and when a
-- caseworker acknowledged it (which meets the triage deadline).
CREATE TABLE case_state (
    report_id INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    assignee_id INTEGER REFERENCES staff_accounts (id) ON DELETE SET NULL,
    outcome TEXT NOT NULL DEFAULT '',
    acknowledged_at TEXT,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE case_notes (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    account_id INTEGER NOT NULL REFERENCES staff_accounts (id),
    at TEXT NOT NULL,
    text TEXT NOT NULL
) STRICT;
CREATE INDEX case_notes_report ON case_notes (report_id);

-- Full-text search over the report text. secure-delete makes a deleted
-- report's words leave the index's pages too, not only its lookups.
CREATE VIRTUAL TABLE report_search USING fts5(reference, category, country, place, occurred, what);
INSERT INTO report_search (report_search, rank) VALUES ('secure-delete', 1);
INSERT INTO report_search (rowid, reference, category, country, place, occurred, what)
    SELECT id, reference, category, country, place, occurred, what FROM reports;
CREATE TRIGGER report_search_insert AFTER INSERT ON reports
BEGIN
    INSERT INTO report_search (rowid, reference, category, country, place, occurred, what)
        VALUES (NEW.id, NEW.reference, NEW.category, NEW.country, NEW.place, NEW.occurred, NEW.what);
END;
CREATE TRIGGER report_search_delete AFTER DELETE ON reports
BEGIN
    DELETE FROM report_search WHERE rowid = OLD.id;
END;
)SQL"},
        {9, "partners, referrals, the outbox and outcomes", R"SQL(
-- The partners that referrals go to. Certificates and the client key are
-- PEM text; the key is as safe as the database itself.
CREATE TABLE partners (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('police', 'hotline', 'other')),
    countries TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    server_trust_pem TEXT NOT NULL,
    client_certificate_pem TEXT NOT NULL,
    client_key_pem TEXT NOT NULL,
    encryption_certificate_pem TEXT NOT NULL,
    receipt_certificate_pem TEXT NOT NULL,
    outcome_certificate_sha256 TEXT NOT NULL CHECK (length(outcome_certificate_sha256) = 64),
    imported_at TEXT NOT NULL
) STRICT;

-- One row per referral; the outbox is the rows in state 'queued'.
-- next_attempt_at holds the retry schedule, so it survives restarts.
CREATE TABLE referrals (
    id INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    partner_id INTEGER NOT NULL REFERENCES partners (id),
    state TEXT NOT NULL CHECK (state IN ('queued', 'delivered', 'failed', 'retracted')),
    manifest_sha256 TEXT NOT NULL CHECK (length(manifest_sha256) = 64),
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    -- 1 while the outbox pushes it, so a retraction cannot race a push.
    sending INTEGER NOT NULL DEFAULT 0 CHECK (sending IN (0, 1)),
    delivered_at TEXT,
    finished_at TEXT
) STRICT;
CREATE INDEX referrals_due ON referrals (state, next_attempt_at);
CREATE INDEX referrals_report ON referrals (report_id);

-- The sealed files of a referral, exactly as they are sent.
CREATE TABLE referral_files (
    referral_id INTEGER NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    name TEXT NOT NULL,
    content BLOB NOT NULL,
    PRIMARY KEY (referral_id, position)
) STRICT;

-- The partner's signed receipt, stored after it verified.
CREATE TABLE referral_receipts (
    referral_id INTEGER PRIMARY KEY REFERENCES referrals (id) ON DELETE CASCADE,
    receipt BLOB NOT NULL,
    received_at TEXT NOT NULL,
    stored_at TEXT NOT NULL
) STRICT;

-- What came of a referral, as the partner posted it back.
CREATE TABLE referral_outcomes (
    id INTEGER PRIMARY KEY,
    referral_id INTEGER NOT NULL REFERENCES referrals (id) ON DELETE CASCADE,
    outcome TEXT NOT NULL
        CHECK (outcome IN ('received', 'investigation_opened', 'no_action', 'closed')),
    recorded_at TEXT NOT NULL
) STRICT;

-- Content-free alerts for the coordinator: a referral that is still not
-- delivered long after it was queued. One per referral.
CREATE TABLE referral_alerts (
    id INTEGER PRIMARY KEY,
    referral_id INTEGER NOT NULL UNIQUE REFERENCES referrals (id) ON DELETE CASCADE,
    raised_at TEXT NOT NULL,
    queued_at TEXT NOT NULL
) STRICT;
)SQL"},
        {10, "partners' public website and disabling partners", R"SQL(
-- A partner's public website, which the public partner page links, and
-- whether a coordinator disabled it: a disabled partner receives no new
-- referrals and leaves the public pages.
ALTER TABLE partners ADD COLUMN website TEXT NOT NULL DEFAULT '';
ALTER TABLE partners ADD COLUMN disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1));
)SQL"},
        {11, "anonymised statistics records and the annual report's text", R"SQL(
-- One record per report for the yearly figures. It holds only the day of
-- receipt and the form's option values, never free text, and the reports
-- row alone holds its random id: once the report is deleted, nothing
-- leads from a record back to a report. A retention sweep must never
-- delete from a table whose name starts with "statistics".
CREATE TABLE statistics_reports (
    id BLOB PRIMARY KEY CHECK (length(id) = 16),
    received_day TEXT NOT NULL
        CHECK (received_day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    channel TEXT NOT NULL CHECK (channel IN ('form', 'phone', 'email', 'other')),
    category TEXT NOT NULL,
    country TEXT NOT NULL CHECK (country = '' OR country = 'unknown' OR country GLOB '[A-Z][A-Z]'),
    reporter_age TEXT NOT NULL,
    reporter_gender TEXT NOT NULL,
    found_via TEXT NOT NULL,
    suspect_age TEXT NOT NULL,
    suspect_gender TEXT NOT NULL,
    child_age TEXT NOT NULL,
    child_gender TEXT NOT NULL,
    anonymous INTEGER NOT NULL CHECK (anonymous IN (0, 1)),
    with_attachments INTEGER NOT NULL CHECK (with_attachments IN (0, 1)),
    acknowledgement TEXT NOT NULL DEFAULT 'pending'
        CHECK (acknowledgement IN ('pending', 'in_time', 'late', 'unknown')),
    referred_police INTEGER NOT NULL DEFAULT 0 CHECK (referred_police IN (0, 1)),
    referred_hotline INTEGER NOT NULL DEFAULT 0 CHECK (referred_hotline IN (0, 1)),
    referred_other INTEGER NOT NULL DEFAULT 0 CHECK (referred_other IN (0, 1)),
    referral_outcome TEXT NOT NULL DEFAULT ''
        CHECK (referral_outcome IN ('', 'received', 'investigation_opened', 'no_action', 'closed')),
    closed_outcome TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX statistics_reports_day ON statistics_reports (received_day);

ALTER TABLE reports ADD COLUMN statistics_id BLOB CHECK (statistics_id IS NULL OR length(statistics_id) = 16);
CREATE UNIQUE INDEX reports_statistics_id ON reports (statistics_id);

-- Reports stored before this version get their record now. Values that
-- are not one of the form's options (a category typed in by hand) are
-- stored as "not answered", so that no free text gets in. Whether their
-- acknowledgement was in time is no longer known.
UPDATE reports SET statistics_id = randomblob(16) WHERE strftime('%Y-%m-%d', received_at) IS NOT NULL;
INSERT INTO statistics_reports (id, received_day, channel, category, country, reporter_age,
    reporter_gender, found_via, suspect_age, suspect_gender, child_age, child_gender, anonymous,
    with_attachments, acknowledgement, closed_outcome)
SELECT r.statistics_id,
    strftime('%Y-%m-%d', r.received_at),
    CASE WHEN r.channel IN ('form', 'phone', 'email') THEN r.channel ELSE 'other' END,
    CASE WHEN r.category IN ('travel_tourism', 'online_material', 'other_violence', 'not_sure')
        THEN r.category ELSE '' END,
    CASE WHEN r.country = 'unknown' THEN r.country
        WHEN upper(r.country) GLOB '[A-Z][A-Z]' THEN upper(r.country) ELSE '' END,
    CASE WHEN d.reporter_age IN ('under_18', '18_29', '30_49', '50_64', '65_plus', 'no_answer')
        THEN d.reporter_age ELSE '' END,
    CASE WHEN d.reporter_gender IN ('female', 'male', 'other', 'no_answer')
        THEN d.reporter_gender ELSE '' END,
    CASE WHEN d.found_via IN ('search_engine', 'campaign', 'social_media', 'news', 'friend_family',
        'organisation', 'other') THEN d.found_via ELSE '' END,
    CASE WHEN d.suspect_age IN ('under_18', '18_29', '30_49', '50_plus', 'unknown')
        THEN d.suspect_age ELSE '' END,
    CASE WHEN d.suspect_gender IN ('female', 'male', 'both', 'unknown') THEN d.suspect_gender ELSE '' END,
    CASE WHEN d.child_age IN ('under_6', '6_11', '12_15', '16_17', 'unknown') THEN d.child_age ELSE '' END,
    CASE WHEN d.child_gender IN ('female', 'male', 'both', 'unknown') THEN d.child_gender ELSE '' END,
    r.anonymous,
    EXISTS (SELECT 1 FROM attachments a WHERE a.report_id = r.id),
    CASE WHEN c.acknowledged_at IS NULL AND r.status = 'new' THEN 'pending' ELSE 'unknown' END,
    CASE WHEN r.status = 'closed' THEN coalesce(c.outcome, '') ELSE '' END
FROM reports r
LEFT JOIN report_details d ON d.report_id = r.id
LEFT JOIN case_state c ON c.report_id = r.id
WHERE strftime('%Y-%m-%d', r.received_at) IS NOT NULL;

-- The coordinator's own text for the annual report of a year.
CREATE TABLE statistics_annual_texts (
    year INTEGER PRIMARY KEY CHECK (year BETWEEN 2000 AND 9999),
    text TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;
)SQL"},
        {12, "closing times, legal holds and search updates", R"SQL(
-- When a case was closed, for the retention period that counts from
-- closing, and a legal hold that keeps a case and everything under it
-- past every period until a coordinator releases it. A case closed
-- before this column existed counts from its last change.
ALTER TABLE case_state ADD COLUMN closed_at TEXT;
ALTER TABLE case_state ADD COLUMN legal_hold INTEGER NOT NULL DEFAULT 0 CHECK (legal_hold IN (0, 1));
UPDATE case_state SET closed_at = updated_at
    WHERE report_id IN (SELECT id FROM reports WHERE status = 'closed');
INSERT INTO case_state (report_id, updated_at, closed_at)
    SELECT id, received_at, received_at FROM reports
    WHERE status = 'closed' AND id NOT IN (SELECT report_id FROM case_state);

-- Text removed from a report by UPDATE (a withdrawal) leaves the index
-- too; rebuild the index once so that earlier withdrawals leave it.
CREATE TRIGGER report_search_update AFTER UPDATE OF reference, category, country, place, occurred, what ON reports
BEGIN
    DELETE FROM report_search WHERE rowid = OLD.id;
    INSERT INTO report_search (rowid, reference, category, country, place, occurred, what)
        VALUES (NEW.id, NEW.reference, NEW.category, NEW.country, NEW.place, NEW.occurred, NEW.what);
END;
DELETE FROM report_search;
INSERT INTO report_search (rowid, reference, category, country, place, occurred, what)
    SELECT id, reference, category, country, place, occurred, what FROM reports;

-- The retention sweep's lookups.
CREATE INDEX reports_received ON reports (received_at);
CREATE INDEX reporter_messages_at ON reporter_messages (at);
CREATE INDEX attachments_report ON attachments (report_id);
CREATE INDEX email_outbox_report ON email_outbox (report_id);
CREATE INDEX referral_outcomes_referral ON referral_outcomes (referral_id);
)SQL"},
        {13, "the organisation's details and calendar from the first-boot setup", R"SQL(
-- What the first admin entered on the setup page: the organisation's name
-- and contact address, its time zone, working days and the end of its
-- working day. Values here take precedence over meldpuntd.ini's [staff]
-- calendar.
CREATE TABLE site_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;
)SQL"},
        {14, "site content, categories and protocol checklists", R"SQL(
-- Texts that coordinators wrote, as Markdown, in place of the built-in
-- text of a public page in one language.
CREATE TABLE site_texts (
    page TEXT NOT NULL,
    language TEXT NOT NULL,
    markdown TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (page, language)
) STRICT;

-- The report categories of the public form. Reports and statistics refer
-- to a category by its code, so a category is disabled, never deleted.
CREATE TABLE site_categories (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE CHECK (length(code) BETWEEN 2 AND 32),
    position INTEGER NOT NULL,
    built_in INTEGER NOT NULL DEFAULT 0 CHECK (built_in IN (0, 1)),
    disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;
INSERT INTO site_categories (code, position, built_in, created_at) VALUES
    ('travel_tourism', 1, 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('online_material', 2, 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('other_violence', 3, 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    ('not_sure', 4, 1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));

-- A category's label in one language, in place of the built-in one.
CREATE TABLE site_category_labels (
    category_id INTEGER NOT NULL REFERENCES site_categories (id),
    language TEXT NOT NULL,
    label TEXT NOT NULL,
    PRIMARY KEY (category_id, language)
) STRICT;

-- The steps a caseworker follows for a category. A removed step stays,
-- so that the ticks of earlier cases keep what they refer to.
CREATE TABLE protocol_steps (
    id INTEGER PRIMARY KEY,
    category_id INTEGER NOT NULL REFERENCES site_categories (id),
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    removed INTEGER NOT NULL DEFAULT 0 CHECK (removed IN (0, 1)),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX protocol_steps_category ON protocol_steps (category_id, position);

-- The steps ticked on a case, by whom and when.
CREATE TABLE case_protocol_ticks (
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    step_id INTEGER NOT NULL REFERENCES protocol_steps (id),
    account_id INTEGER,
    ticked_at TEXT NOT NULL,
    PRIMARY KEY (report_id, step_id)
) STRICT;
)SQL"},
        {15, "staff notice addresses and sent notices", R"SQL(
-- Where a staff member gets notices by e-mail (counts and a link, never
-- case content); NULL for none. An admin sets it on the accounts page.
ALTER TABLE staff_accounts ADD COLUMN notice_email TEXT;

-- The events each staff member has had a notice e-mail about, so that
-- each is mailed once: 'arrived' for a report waiting for its
-- acknowledgement, 'due_soon' for one whose triage deadline nears.
CREATE TABLE staff_notices_sent (
    account_id INTEGER NOT NULL REFERENCES staff_accounts (id) ON DELETE CASCADE,
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    event TEXT NOT NULL CHECK (event IN ('arrived', 'due_soon')),
    sent_at TEXT NOT NULL,
    PRIMARY KEY (account_id, report_id, event)
) STRICT;
CREATE INDEX staff_notices_sent_report ON staff_notices_sent (report_id);
)SQL"},
        {16, "links between related reports and merged duplicates", R"SQL(
-- Two reports a caseworker linked as related, one row per pair with the
-- lower id first.
CREATE TABLE report_links (
    report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    linked_report_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    linked_at TEXT NOT NULL,
    PRIMARY KEY (report_id, linked_report_id),
    CHECK (report_id < linked_report_id)
) STRICT;
CREATE INDEX report_links_linked ON report_links (linked_report_id);

-- A duplicate report merged into its primary. The duplicate is closed
-- with the outcome "duplicate" and keeps its notes, messages,
-- attachments and audit entries; a duplicate has one primary, and a
-- primary is never itself merged.
CREATE TABLE case_merges (
    duplicate_id INTEGER PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    primary_id INTEGER NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    merged_at TEXT NOT NULL,
    CHECK (duplicate_id <> primary_id)
) STRICT;
CREATE INDEX case_merges_primary ON case_merges (primary_id);
)SQL"},
        {17, "full-text search over case notes", R"SQL(
-- The staff's notes are searched with the report text. One index row per
-- note, whose rowid is the note's id. secure-delete makes a deleted
-- note's words leave the index's pages too, as for report_search.
CREATE VIRTUAL TABLE note_search USING fts5(text);
INSERT INTO note_search (note_search, rank) VALUES ('secure-delete', 1);
INSERT INTO note_search (rowid, text) SELECT id, text FROM case_notes;
CREATE TRIGGER note_search_insert AFTER INSERT ON case_notes
BEGIN
    INSERT INTO note_search (rowid, text) VALUES (NEW.id, NEW.text);
END;
CREATE TRIGGER note_search_delete AFTER DELETE ON case_notes
BEGIN
    DELETE FROM note_search WHERE rowid = OLD.id;
END;
CREATE TRIGGER note_search_update AFTER UPDATE OF text ON case_notes
BEGIN
    DELETE FROM note_search WHERE rowid = OLD.id;
    INSERT INTO note_search (rowid, text) VALUES (NEW.id, NEW.text);
END;
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
    // Freed pages go back to the file system through incremental_vacuum
    // after every retention sweep that deleted something. auto_vacuum can
    // only be chosen before the first table exists; a database made
    // without it is converted once by the sweep (RetentionSweep).
    if (current == 0)
        database.exec("PRAGMA auto_vacuum = INCREMENTAL");
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
