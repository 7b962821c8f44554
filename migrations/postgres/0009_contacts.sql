-- Contacts (`Contact` ledger records): one row per user and counterpart, so each side reads
-- its own view. `state` is `outgoing` (the user asked), `incoming` (the counterpart asked) or
-- `bound`; a declined request or an unbinding deletes both rows.
CREATE TABLE bridge_contacts (
    user_id TEXT NOT NULL,
    other   TEXT NOT NULL,
    state   TEXT NOT NULL,
    height  BIGINT NOT NULL,
    at_ms   BIGINT NOT NULL,
    pos     BIGINT NOT NULL,
    PRIMARY KEY (user_id, other)
);
CREATE INDEX bridge_contacts_other ON bridge_contacts (other);
-- Every accepted step, in ledger order: who did what towards whom, and the result.
CREATE TABLE bridge_contact_log (
    pos     BIGINT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL,
    other   TEXT NOT NULL,
    action  TEXT NOT NULL,
    result  TEXT NOT NULL,
    org     TEXT NOT NULL,
    height  BIGINT NOT NULL,
    at_ms   BIGINT NOT NULL
);
CREATE INDEX bridge_contact_log_user ON bridge_contact_log (user_id);
CREATE INDEX bridge_contact_log_other ON bridge_contact_log (other);
-- Organisation policies set by `OrgPolicy` records (the genesis gives the starting values).
CREATE TABLE bridge_org_policy (
    org    TEXT NOT NULL,
    policy TEXT NOT NULL,
    value  TEXT NOT NULL,
    pos    BIGINT NOT NULL,
    PRIMARY KEY (org, policy)
);
