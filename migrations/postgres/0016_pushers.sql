-- Each user's pushers (`/pushers/set`): where this node sends their push notifications.
-- Org-local, like the devices they belong to. `pusher` is the pusher as the client set it
-- (JSON), answered again by `GET /pushers`.
CREATE TABLE hs_pushers (
    user_id    TEXT NOT NULL,
    app_id     TEXT NOT NULL,
    pushkey    TEXT NOT NULL,
    pusher     TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (app_id, pushkey, user_id)
);
CREATE INDEX hs_pushers_user ON hs_pushers (user_id);
