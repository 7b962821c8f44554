-- Each record's effect digest (hex), from which a block's outcome digest and so the app hash
-- are rebuilt when a block is handed to the bridge again after a crash.
ALTER TABLE bridge_outcomes ADD COLUMN effect TEXT;
