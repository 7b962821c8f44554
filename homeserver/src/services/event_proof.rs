//! Event proofs: a room event, the ledger transaction that carried it, that transaction's
//! Merkle path, the block header and the validators' commit certificate, as one JSON
//! document that anyone holding the genesis can check offline (`consort verify-proof`).

use consort_bridge::Record;
use consort_bridge::rooms::event::{Pdu, SUPPORTED_VERSIONS, rules_for};
use consort_chain::Genesis;
use consort_chain::proof::TxProof;
use consort_chain::proof_json::TxProofJson;
use serde::{Deserialize, Serialize};

/// The document's format name.
pub const FORMAT: &str = "consort-event-proof-v1";

/// An event with the proof that the consortium committed it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventProof {
    /// Always [`FORMAT`].
    pub format: String,
    /// The room.
    pub room_id: String,
    /// The event's id (its reference hash).
    pub event_id: String,
    /// The event as on the ledger: canonical PDU JSON text.
    pub event: String,
    /// The transaction that carried it, with its inclusion proof.
    pub proof: TxProofJson,
}

/// What a verified proof establishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The block height the event was committed at.
    pub height: u64,
    /// The organisation that submitted it.
    pub org: String,
    /// How many validators signed the block.
    pub signatures: usize,
}

/// Why a proof does not hold.
#[derive(Debug, thiserror::Error)]
pub enum EventProofError {
    /// Not a JSON event proof.
    #[error("not an event proof: {0}")]
    Malformed(String),
    /// The ledger part does not verify.
    #[error("the inclusion proof does not verify: {0}")]
    Ledger(String),
    /// The transaction does not carry this event.
    #[error("{0}")]
    Event(String),
}

/// Builds the document for `event` (canonical PDU text) from the transaction's proof.
///
/// The room version is left out on purpose: nothing in the ledger proof would vouch for it,
/// and the verifier needs it only to compute the reference hash, which it does under each
/// version Consort supports.
pub fn build(proof: &TxProof, (room_id, event_id): (&str, &str), event: &str) -> EventProof {
    EventProof {
        format: FORMAT.into(),
        room_id: room_id.into(),
        event_id: event_id.into(),
        event: event.into(),
        proof: TxProofJson::from(proof),
    }
}

/// Checks a JSON event proof against the genesis alone: the transaction's signature, its
/// Merkle path, the certificate's quorum, and that the transaction carries exactly this
/// event, whose id is the reference hash of its text.
pub fn verify(document: &[u8], genesis: &Genesis) -> Result<Verified, EventProofError> {
    let doc: EventProof =
        serde_json::from_slice(document).map_err(|e| EventProofError::Malformed(e.to_string()))?;
    if doc.format != FORMAT {
        return Err(EventProofError::Malformed(format!(
            "format {:?} is not {FORMAT}",
            doc.format
        )));
    }
    let proof =
        TxProof::try_from(&doc.proof).map_err(|e| EventProofError::Malformed(e.to_string()))?;
    consort_chain::verify(&proof, genesis).map_err(|e| EventProofError::Ledger(e.to_string()))?;
    let record = Record::decode(&proof.tx.payload)
        .map_err(|_| EventProofError::Event("the transaction holds no Consort record".into()))?;
    let carried = match &record {
        Record::RoomEvent(e) => vec![e.pdu.as_str()],
        Record::RoomEventBatch(es) => es.iter().map(|e| e.pdu.as_str()).collect(),
        _ => Vec::new(),
    };
    if !carried.contains(&doc.event.as_str()) {
        return Err(EventProofError::Event(
            "the transaction does not carry this event".into(),
        ));
    }
    // The id is the reference hash under the room's rules; the versions Consort supports
    // agree on it for every event they all accept, and one match is what the claim needs.
    let mut parsed = Err(String::from("no supported room version"));
    for version in &SUPPORTED_VERSIONS {
        let rules = rules_for(version).map_err(|e| EventProofError::Malformed(e.to_string()))?;
        parsed = Pdu::parse(&doc.event, &rules)
            .map(|(pdu, _)| pdu)
            .map_err(|e| e.to_string());
        if parsed
            .as_ref()
            .is_ok_and(|pdu| pdu.event_id.as_str() == doc.event_id)
        {
            break;
        }
    }
    let pdu = parsed.map_err(EventProofError::Event)?;
    if pdu.event_id.as_str() != doc.event_id {
        return Err(EventProofError::Event(format!(
            "the event's id is {}, not {}",
            pdu.event_id, doc.event_id
        )));
    }
    if pdu.room.as_str() != doc.room_id {
        return Err(EventProofError::Event(format!(
            "the event belongs to {}, not {}",
            pdu.room, doc.room_id
        )));
    }
    Ok(Verified {
        height: proof.header.height,
        org: proof.tx.org.clone(),
        signatures: proof.certificate.commit_signatures.len(),
    })
}
