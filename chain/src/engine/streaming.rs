//! Reassembly of streamed proposals: parts arrive out of order from gossip; a proposal is
//! complete when every sequence number up to the end-of-stream marker has arrived.

use std::collections::{BTreeMap, HashMap};

use malachitebft_app_channel::app::streaming::{StreamContent, StreamId, StreamMessage};
use malachitebft_app_channel::app::types::PeerId;

use super::signing::Signature;
use super::types::{ProposalInit, ProposalPart};

/// A complete, not yet verified, streamed proposal.
#[derive(Debug)]
pub struct AssembledProposal {
    /// Its header part.
    pub init: ProposalInit,
    /// The concatenated data parts: the encoded block.
    pub data: Vec<u8>,
    /// The proposer's signature from the `Fin` part.
    pub signature: Signature,
}

struct Buffer {
    parts: BTreeMap<u64, StreamContent<ProposalPart>>,
    end: Option<u64>,
    bytes: usize,
    born: u64,
}

/// Buffers of partially received streams, bounded in number and size.
pub struct PartStreams {
    streams: HashMap<(PeerId, StreamId), Buffer>,
    max_streams: usize,
    max_stream_bytes: usize,
    clock: u64,
}

impl PartStreams {
    /// Keeps at most `max_streams` open streams of at most `max_stream_bytes` each.
    pub fn new(max_streams: usize, max_stream_bytes: usize) -> Self {
        Self {
            streams: HashMap::new(),
            max_streams,
            max_stream_bytes,
            clock: 0,
        }
    }

    /// Adds one received message; returns the proposal when this message completes it.
    /// Malformed streams (wrong part order, oversize) are dropped.
    pub fn insert(
        &mut self,
        publisher: PeerId,
        msg: StreamMessage<ProposalPart>,
    ) -> Option<AssembledProposal> {
        self.clock += 1;
        let key = (publisher, msg.stream_id.clone());
        if !self.streams.contains_key(&key) && self.streams.len() >= self.max_streams {
            let oldest = self
                .streams
                .iter()
                .min_by_key(|(_, b)| b.born)
                .map(|(k, _)| k.clone())?;
            self.streams.remove(&oldest);
        }
        let clock = self.clock;
        let buf = self.streams.entry(key.clone()).or_insert_with(|| Buffer {
            parts: BTreeMap::new(),
            end: None,
            bytes: 0,
            born: clock,
        });
        if let StreamContent::Data(ProposalPart::Data(chunk)) = &msg.content {
            buf.bytes += chunk.len();
        }
        if matches!(msg.content, StreamContent::Fin) {
            buf.end = Some(msg.sequence);
        }
        buf.parts.insert(msg.sequence, msg.content);
        if buf.bytes > self.max_stream_bytes {
            self.streams.remove(&key);
            return None;
        }
        let end = buf.end?;
        if buf.parts.len() as u64 != end + 1 || buf.parts.keys().next_back() != Some(&end) {
            return None;
        }
        let buf = self.streams.remove(&key)?;
        assemble(buf.parts.into_values())
    }
}

fn assemble(parts: impl Iterator<Item = StreamContent<ProposalPart>>) -> Option<AssembledProposal> {
    let mut init = None;
    let mut data = Vec::new();
    let mut signature = None;
    for part in parts {
        match part {
            StreamContent::Data(ProposalPart::Init(i)) if init.is_none() => init = Some(i),
            StreamContent::Data(ProposalPart::Data(chunk))
                if init.is_some() && signature.is_none() =>
            {
                data.extend_from_slice(&chunk)
            }
            StreamContent::Data(ProposalPart::Fin(sig))
                if init.is_some() && signature.is_none() =>
            {
                signature = Some(sig)
            }
            StreamContent::Fin if signature.is_some() => {}
            _ => return None,
        }
    }
    Some(AssembledProposal {
        init: init?,
        data,
        signature: signature?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::types::{Address, Height};
    use malachitebft_core_types::Round;

    fn peer() -> PeerId {
        let key = malachitebft_app_channel::app::types::Keypair::generate_ed25519();
        PeerId::from_bytes(&key.public().to_peer_id().to_bytes()).unwrap()
    }

    fn msgs() -> Vec<StreamMessage<ProposalPart>> {
        let id = StreamId::new(vec![1, 2].into());
        let init = ProposalInit {
            height: Height(3),
            round: Round::new(0),
            pol_round: Round::Nil,
            proposer: Address([7; 20]),
        };
        let contents = vec![
            StreamContent::Data(ProposalPart::Init(init)),
            StreamContent::Data(ProposalPart::Data(vec![1, 2])),
            StreamContent::Data(ProposalPart::Data(vec![3])),
            StreamContent::Data(ProposalPart::Fin(Signature([9; 64]))),
            StreamContent::Fin,
        ];
        contents
            .into_iter()
            .enumerate()
            .map(|(i, c)| StreamMessage::new(id.clone(), i as u64, c))
            .collect()
    }

    #[test]
    fn reassembles_out_of_order() {
        let peer = peer();
        let mut s = PartStreams::new(4, 1024);
        let mut m = msgs();
        m.reverse();
        let last = m.pop().unwrap();
        for msg in m {
            assert!(s.insert(peer, msg).is_none());
        }
        let p = s.insert(peer, last).expect("complete");
        assert_eq!(p.data, vec![1, 2, 3]);
        assert_eq!(p.init.height, Height(3));
    }

    #[test]
    fn drops_oversized_and_malformed_streams() {
        let peer = peer();
        let mut s = PartStreams::new(4, 2);
        for msg in msgs() {
            assert!(s.insert(peer, msg).is_none());
        }
        let mut s = PartStreams::new(4, 1024);
        let mut m = msgs();
        m.remove(0); // no Init
        for (i, mut msg) in m.into_iter().enumerate() {
            msg.sequence = i as u64;
            assert!(s.insert(peer, msg).is_none());
        }
    }
}
