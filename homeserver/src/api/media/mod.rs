//! The media API: uploads (`/_matrix/media/v3/upload`, `/v1/create` and its `PUT`),
//! authenticated downloads and thumbnails (`/_matrix/client/v1/media/...`), the legacy
//! unauthenticated paths as Synapse answers them once authenticated media is enforced, and
//! the trustless gateway other organisations' nodes fetch blocks from (`/ipfs/{cid}`).

pub mod download;
pub mod gateway;
pub mod legacy;
pub mod upload;
