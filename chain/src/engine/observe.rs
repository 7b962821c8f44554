//! Watches the consensus engine for what the node reports about its peers
//! ([`crate::peers::PeerView`]): the heights of their signed votes and proposals, and how many
//! the network is connected to.

use std::sync::Arc;
use std::time::Duration;

use malachitebft_app_channel::NetworkRequest;
use malachitebft_app_channel::app::consensus::SignedConsensusMsg;
use malachitebft_app_channel::app::engine::util::events::Event;
use malachitebft_app_channel::app::types::core::ValidatorSet as _;
use tokio::sync::{broadcast, mpsc};

use super::context::ConsortContext;
use super::types::{Address, ValidatorSet};
use crate::node::Shared;

/// How often the network is asked how many peers it is connected to.
const PEER_COUNT_EVERY: Duration = Duration::from_secs(2);

/// Records the height of every consensus message another validator signed. The engine
/// reports messages before it checks them, so the signature is checked here: a forged message
/// must not make the node think the consortium is further than it is.
pub(crate) async fn peer_heights(
    mut events: broadcast::Receiver<Event<ConsortContext>>,
    shared: Arc<Shared>,
    validators: ValidatorSet,
    me: Address,
) {
    loop {
        let (address, height, signed_ok) = match events.recv().await {
            Ok(Event::Received(SignedConsensusMsg::Vote(vote))) => {
                let address = vote.message.validator_address;
                let ok = key_of(&validators, &address)
                    .is_some_and(|key| vote.signature.verify(key, &vote.message.to_sign_bytes()));
                (address, vote.message.height.0, ok)
            }
            Ok(Event::Received(SignedConsensusMsg::Proposal(proposal))) => {
                let address = proposal.message.validator_address;
                let ok = key_of(&validators, &address).is_some_and(|key| {
                    proposal
                        .signature
                        .verify(key, &proposal.message.to_sign_bytes())
                });
                (address, proposal.message.height.0, ok)
            }
            Ok(_) => continue,
            // Missed events only delay the view: the next messages carry later heights.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if signed_ok && address != me {
            shared.peers.heard(address, height);
        }
    }
}

/// The consensus key of `address`, when it is one of the consortium's validators.
fn key_of<'a>(
    validators: &'a ValidatorSet,
    address: &Address,
) -> Option<&'a ed25519_dalek::VerifyingKey> {
    validators.get_by_address(address).map(|v| &v.public_key)
}

/// Asks the network, every [`PEER_COUNT_EVERY`], how many peers it is connected to.
pub(crate) async fn connected_peers(requests: mpsc::Sender<NetworkRequest>, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(PEER_COUNT_EVERY);
    loop {
        tick.tick().await;
        match NetworkRequest::dump_state(&requests).await {
            Ok(Some(dump)) => shared.peers.set_connected(dump.peers.len()),
            Ok(None) => {}
            Err(_) => return,
        }
    }
}
