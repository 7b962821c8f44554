-- A rejected record's stable rejection code (`consort_bridge::rejection::RejectionKind`),
-- stored beside its message so that callers act on the code, never on the text.
ALTER TABLE bridge_outcomes ADD COLUMN code TEXT;
