//! `consort-bridge`: the consortium application ("the DAPP") on top of `consort-chain`.
//! Every node decodes, validates and applies each committed block's records the same way,
//! in block order, into its SQL projection; the outcome feeds the chain's app hash.

pub mod apply;
pub mod contacts;
pub mod directory;
pub mod effect;
pub mod kept;
pub mod keys;
pub mod limits;
pub mod media;
pub mod position;
pub mod receipts;
pub mod records;
pub mod rejection;
pub mod rooms;
pub mod submit;
pub mod users;
pub mod validate;
pub mod verify;

pub use apply::Bridge;
pub use records::{
    Contact, ContactAction, CrossSigningKeys, KeyClaim, KeySignatures, KeyUpload, MediaPin,
    MediaUnpin, ReadReceipt, Record, Registration, RoomAlias, RoomDirectory, RoomEvent, ToDevice,
};
pub use rejection::{Outcome, Rejection, RejectionCounts, RejectionKind};
pub use submit::{BridgeError, submit_record};
