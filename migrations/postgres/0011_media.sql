-- Media on the ledger (`MediaPin`, `MediaUnpin`): which mxc URI names which file (IPFS CID).
-- A removed medium keeps its row, with the removal, so that its URI is never reused.
CREATE TABLE bridge_media (
    mxc          TEXT NOT NULL PRIMARY KEY,
    cid          TEXT NOT NULL,
    size         BIGINT NOT NULL,
    content_type TEXT,
    uploader     TEXT NOT NULL,
    org          TEXT NOT NULL,
    created_ms   BIGINT NOT NULL,
    pos          BIGINT NOT NULL,
    removed_by   TEXT,
    removed_pos  BIGINT
);
CREATE INDEX bridge_media_uploader ON bridge_media (uploader, created_ms);
CREATE INDEX bridge_media_cid ON bridge_media (cid);
CREATE INDEX bridge_media_removed ON bridge_media (removed_pos);
-- Org-local: what the uploading node alone knows of its users' media (the file name), and
-- the ids `/create` reserved that are not uploaded yet (`expires_ms` set until they are).
CREATE TABLE hs_media_local (
    mxc         TEXT NOT NULL PRIMARY KEY,
    owner       TEXT NOT NULL,
    upload_name TEXT,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT
);
CREATE INDEX hs_media_local_owner ON hs_media_local (owner, expires_ms);
-- The embedded blob store's index: the blocks of each file it holds, so that a removed
-- file's blocks go only when no other file uses them; `stored_ms` dates the file, so that
-- one stored by an upload that never reached the ledger (a crash in between) is swept later.
CREATE TABLE hs_blob_blocks (
    root      TEXT NOT NULL,
    block     TEXT NOT NULL,
    stored_ms BIGINT NOT NULL,
    PRIMARY KEY (root, block)
);
CREATE INDEX hs_blob_blocks_block ON hs_blob_blocks (block);
-- How far this node has deleted the copies of removed media (a position on the ledger).
INSERT INTO hs_counters (name, value) VALUES ('media_removed_pos', 0);
