//! The wire and WAL codec: borsh for every message Malachite sends or logs.
//! Decoding never panics; malformed bytes from a peer are an error.

use borsh::{BorshDeserialize, BorshSerialize};
use bytes::Bytes;
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::sync::{Request, Response, Status};
use malachitebft_app_channel::app::types::{ProposedValue, SignedConsensusMsg};
use malachitebft_core_consensus::LivenessMsg;
use malachitebft_core_types::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedExtension,
    ValidatorProof,
};
use malachitebft_sync::{RawDecidedValue, ValueResponse};

use super::context::ConsortContext;
use super::signing::Signature;
use super::types::{Address, BlockHash, Height, ProposalPart};

/// Borsh codec for consensus, sync and WAL messages.
#[derive(Clone, Copy, Debug, Default)]
pub struct BorshCodec;

fn encode<T: BorshSerialize>(msg: &T) -> Result<Bytes, std::io::Error> {
    borsh::to_vec(msg).map(Bytes::from)
}

fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, std::io::Error> {
    borsh::from_slice(bytes)
}

macro_rules! borsh_codec {
    ($($ty:ty),* $(,)?) => {$(
        impl Codec<$ty> for BorshCodec {
            type Error = std::io::Error;

            fn decode(&self, bytes: Bytes) -> Result<$ty, Self::Error> {
                decode(&bytes)
            }

            fn encode(&self, msg: &$ty) -> Result<Bytes, Self::Error> {
                encode(msg)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<ConsortContext>,
    LivenessMsg<ConsortContext>,
    StreamMessage<ProposalPart>,
    ProposedValue<ConsortContext>,
    PolkaCertificate<ConsortContext>,
    Status<ConsortContext>,
    Request<ConsortContext>,
);

/// `ExtendedCommitCertificate` has no borsh impl upstream, so sync responses go through
/// this mirror.
#[derive(BorshSerialize, BorshDeserialize)]
struct RawValueResponse {
    start_height: Height,
    values: Vec<RawDecided>,
}

#[derive(BorshSerialize, BorshDeserialize)]
struct RawDecided {
    value_bytes: Vec<u8>,
    height: Height,
    round: Round,
    value_id: BlockHash,
    signatures: Vec<(Address, Signature, Option<SignedExtension<ConsortContext>>)>,
}

impl From<&Response<ConsortContext>> for RawValueResponse {
    fn from(msg: &Response<ConsortContext>) -> Self {
        let Response::ValueResponse(resp) = msg;
        RawValueResponse {
            start_height: resp.start_height,
            values: resp
                .values
                .iter()
                .map(|v| RawDecided {
                    value_bytes: v.value_bytes.to_vec(),
                    height: v.certificate.height,
                    round: v.certificate.round,
                    value_id: v.certificate.value_id,
                    signatures: v
                        .certificate
                        .commit_signatures
                        .iter()
                        .map(|s| (s.address, s.signature, s.extension.clone()))
                        .collect(),
                })
                .collect(),
        }
    }
}

impl From<RawValueResponse> for Response<ConsortContext> {
    fn from(raw: RawValueResponse) -> Self {
        let values = raw
            .values
            .into_iter()
            .map(|v| {
                let certificate = ExtendedCommitCertificate {
                    height: v.height,
                    round: v.round,
                    value_id: v.value_id,
                    commit_signatures: v
                        .signatures
                        .into_iter()
                        .map(|(a, s, e)| ExtendedCommitSignature::new(a, s, e))
                        .collect(),
                };
                RawDecidedValue::new(Bytes::from(v.value_bytes), certificate)
            })
            .collect();
        Response::ValueResponse(ValueResponse::new(raw.start_height, values))
    }
}

impl Codec<Response<ConsortContext>> for BorshCodec {
    type Error = std::io::Error;

    fn decode(&self, bytes: Bytes) -> Result<Response<ConsortContext>, Self::Error> {
        decode::<RawValueResponse>(&bytes).map(Into::into)
    }

    fn encode(&self, msg: &Response<ConsortContext>) -> Result<Bytes, Self::Error> {
        encode(&RawValueResponse::from(msg))
    }
}

impl HasEncodedLen<Response<ConsortContext>> for BorshCodec {
    fn encoded_len(&self, msg: &Response<ConsortContext>) -> Result<usize, std::io::Error> {
        borsh::object_length(&RawValueResponse::from(msg))
    }
}

/// `ValidatorProof` has no borsh impl upstream; this mirrors its fields.
#[derive(BorshSerialize, BorshDeserialize)]
struct RawValidatorProof {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: Signature,
}

impl Codec<ValidatorProof<ConsortContext>> for BorshCodec {
    type Error = std::io::Error;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<ConsortContext>, Self::Error> {
        let raw: RawValidatorProof = decode(&bytes)?;
        Ok(ValidatorProof::new(
            raw.public_key,
            raw.peer_id,
            raw.signature,
        ))
    }

    fn encode(&self, msg: &ValidatorProof<ConsortContext>) -> Result<Bytes, Self::Error> {
        encode(&RawValidatorProof {
            public_key: msg.public_key.clone(),
            peer_id: msg.peer_id.clone(),
            signature: msg.signature,
        })
    }
}
