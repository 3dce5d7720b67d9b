//! Payment channels: the state two parties sign off chain and either may carry to the chain,
//! and the messages their processes exchange.
//!
//! ```text
//! channel id  = sha256("lamina/channel/id" | key_0 | key_1 | nonce: u64 LE)
//! state       = (chain_id, channel, version, deposited[2], balances[2], is_final)   borsh
//! signed      = "lamina\0" | 17 | "lamina/channel/v1" | chain_id: u64 LE | state
//! ```
//!
//! A state binds its chain twice (in the signed prefix and in its own bytes) and its channel
//! once, so a signature made for one channel or chain never counts on another. The id does
//! not name the chain (a module can key its records by it before it knows which chain it
//! runs on); the state does. `deposited`
//! is what each party had deposited when the state was signed; `balances` splits exactly that
//! sum. A deposit made on chain after the state was signed goes back to whoever made it, on
//! top of the state's balance ([`ChannelState::payouts`]), so a top-up never needs the other
//! party's consent and never unbalances an older state. A higher version replaces a lower;
//! an honest party never signs two states of one version, and signs nothing after a final
//! one. `is_final` marks a state both agree to close on at once (the cooperative close).
//!
//! Between two processes, [`PeerMsg`]s go as frames of a 4-byte little-endian length and the
//! borsh bytes, at most [`MAX_FRAME`] long. A connection starts with a challenge-response on
//! both sides, signed under [`PEER_DOMAIN`], so each knows it talks to the channel's other key.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::codec::{BoundedString, Canonical};
use crate::crypto::{PublicKey, SecretKey, Signature};
use crate::hash::{Hash, Hasher};
use crate::module::Amount;
use crate::signing::{Domain, SigningPayload};
use crate::types::ChainId;

/// What channel states are signed for.
pub const STATE_DOMAIN: Domain = Domain::custom("lamina/channel/v1");
/// What the peer handshake is signed for.
pub const PEER_DOMAIN: Domain = Domain::custom("lamina/channel-peer/v1");
/// The largest frame between two channel processes, in bytes.
pub const MAX_FRAME: usize = 1024;
/// Longest reason in a refusal, in bytes.
pub const MAX_REASON_LEN: usize = 256;

/// A channel's id: the hash of its two keys in order and the opener's nonce.
pub fn channel_id(keys: &[PublicKey; 2], nonce: u64) -> Hash {
    let mut hasher = Hasher::new();
    hasher
        .update(b"lamina/channel/id")
        .update(&keys[0].0)
        .update(&keys[1].0)
        .update(&nonce.to_le_bytes());
    hasher.finish()
}

/// A split of a channel's deposits that both parties sign.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelState {
    /// The chain the channel is on.
    pub chain_id: ChainId,
    /// The channel.
    pub channel: Hash,
    /// Higher replaces lower; 0 is the opening split, which needs no signature.
    pub version: u64,
    /// Each party's deposits when this was signed.
    pub deposited: [Amount; 2],
    /// Each party's share of those deposits.
    pub balances: [Amount; 2],
    /// Both agree to close on this state at once.
    pub is_final: bool,
}

impl Canonical for ChannelState {
    const NAME: &'static str = "channel state";
    // 8 + 32 + 8 + 4 * 16 + 1.
    const MAX_ENCODED_LEN: usize = 113;
}

/// Why a state cannot stand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateRuleError {
    /// The balances do not split the deposits exactly, or a sum overflows.
    #[error("the balances do not add up to the deposits")]
    Unbalanced,
    /// The state counts more of a party's deposits than the chain holds.
    #[error("the state counts {counted} of party {party}'s deposits; the chain holds {held}")]
    OverDeposited {
        /// The party, 0 or 1.
        party: usize,
        /// What the state counts.
        counted: u128,
        /// What the chain holds.
        held: u128,
    },
    /// A signature that does not verify.
    #[error("party {0}'s signature does not verify")]
    BadSignature(usize),
}

impl ChannelState {
    /// The opening split of a channel: each party holds what it deposited.
    pub fn opening(chain_id: ChainId, channel: Hash, deposits: [u128; 2]) -> ChannelState {
        ChannelState {
            chain_id,
            channel,
            version: 0,
            deposited: deposits.map(Amount),
            balances: deposits.map(Amount),
            is_final: false,
        }
    }

    /// The exact bytes a party signs.
    pub fn signing_bytes(&self) -> Vec<u8> {
        SigningPayload::new(self.chain_id, STATE_DOMAIN, &self.encode()).message()
    }

    /// Signs the state.
    pub fn sign(&self, key: &SecretKey) -> Signature {
        key.sign_raw(&self.signing_bytes())
    }

    /// Checks that the balances split the deposits exactly.
    pub fn check_balanced(&self) -> Result<(), StateRuleError> {
        let sum = |pair: &[Amount; 2]| pair[0].0.checked_add(pair[1].0);
        match (sum(&self.deposited), sum(&self.balances)) {
            (Some(d), Some(b)) if d == b => Ok(()),
            _ => Err(StateRuleError::Unbalanced),
        }
    }

    /// What each party is paid if the channel closes on this state while the chain holds
    /// `deposits`: its balance, plus what it deposited after the state was signed. The
    /// payouts add up to the deposits exactly.
    pub fn payouts(&self, deposits: [u128; 2]) -> Result<[u128; 2], StateRuleError> {
        self.check_balanced()?;
        let mut out = [0u128; 2];
        for party in 0..2 {
            let counted = self.deposited[party].0;
            let later =
                deposits[party]
                    .checked_sub(counted)
                    .ok_or(StateRuleError::OverDeposited {
                        party,
                        counted,
                        held: deposits[party],
                    })?;
            out[party] = self.balances[party]
                .0
                .checked_add(later)
                .ok_or(StateRuleError::Unbalanced)?;
        }
        Ok(out)
    }

    /// The next state: one version up, `amount` moved from party `from` to the other.
    /// `None` when `from` holds less, or after a final state.
    pub fn pay(&self, from: usize, amount: u128) -> Option<ChannelState> {
        if self.is_final || from > 1 {
            return None;
        }
        let mut next = self.clone();
        next.version = self.version.checked_add(1)?;
        next.balances[from].0 = self.balances[from].0.checked_sub(amount)?;
        next.balances[1 - from].0 = self.balances[1 - from].0.checked_add(amount)?;
        Some(next)
    }
}

/// A state with both parties' signatures, in the channel's key order.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedState {
    /// The state.
    pub state: ChannelState,
    /// Party 0's and party 1's signatures of it.
    pub signatures: [Signature; 2],
}

impl Canonical for SignedState {
    const NAME: &'static str = "signed channel state";
    const MAX_ENCODED_LEN: usize = ChannelState::MAX_ENCODED_LEN + 128;
}

impl SignedState {
    /// Checks both signatures against the channel's keys, and the balances.
    pub fn verify(&self, keys: &[PublicKey; 2]) -> Result<(), StateRuleError> {
        self.state.check_balanced()?;
        let bytes = self.state.signing_bytes();
        for (party, (key, signature)) in keys.iter().zip(&self.signatures).enumerate() {
            key.verify_raw(&bytes, signature)
                .map_err(|_| StateRuleError::BadSignature(party))?;
        }
        Ok(())
    }
}

/// What two channel processes say to each other.
#[derive(Debug, Clone, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum PeerMsg {
    /// Opens a connection: the channel, the sender's key, and a challenge for the other.
    Hello {
        /// The channel.
        channel: Hash,
        /// The sender's key, one of the channel's two.
        key: PublicKey,
        /// Random bytes the other signs.
        challenge: [u8; 32],
    },
    /// Answers a challenge: the signature of the peer's challenge under [`PEER_DOMAIN`].
    Proof {
        /// The signature.
        signature: Signature,
    },
    /// A proposed next state, signed by its sender.
    Propose {
        /// The state.
        state: ChannelState,
        /// The sender's signature.
        signature: Signature,
    },
    /// The other signature of a proposed state: both now hold it signed by both.
    Accept {
        /// The version accepted.
        version: u64,
        /// The accepter's signature.
        signature: Signature,
    },
    /// A proposal refused, and why.
    Refuse {
        /// The version refused.
        version: u64,
        /// Why.
        reason: BoundedString<MAX_REASON_LEN>,
    },
}

impl Canonical for PeerMsg {
    const NAME: &'static str = "channel peer message";
    const MAX_ENCODED_LEN: usize = MAX_FRAME;
}

/// The bytes signed to answer `challenge` in a handshake on `channel`.
pub fn handshake_bytes(chain_id: ChainId, channel: &Hash, challenge: &[u8; 32]) -> Vec<u8> {
    let mut payload = Vec::with_capacity(64);
    payload.extend_from_slice(&channel.0);
    payload.extend_from_slice(challenge);
    SigningPayload::new(chain_id, PEER_DOMAIN, &payload).message()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ChannelState {
        ChannelState::opening(ChainId(1337), Hash([7; 32]), [100, 50])
    }

    #[test]
    fn payments_keep_the_sum_and_stop_at_the_balance() {
        let s = state();
        let next = s.pay(0, 30).expect("within balance");
        assert_eq!(next.version, 1);
        assert_eq!(next.balances, [Amount(70), Amount(80)]);
        assert_eq!(next.check_balanced(), Ok(()));
        assert_eq!(next.pay(0, 71), None);
        assert_eq!(next.pay(2, 1), None);
        let mut last = next.clone();
        last.is_final = true;
        assert_eq!(last.pay(1, 1), None);
    }

    #[test]
    fn later_deposits_return_to_their_depositor() {
        let s = state().pay(1, 50).expect("within balance");
        assert_eq!(s.payouts([100, 50]), Ok([150, 0]));
        assert_eq!(s.payouts([100, 80]), Ok([150, 30]));
        assert_eq!(
            s.payouts([90, 50]),
            Err(StateRuleError::OverDeposited {
                party: 0,
                counted: 100,
                held: 90
            })
        );
        let mut bad = s.clone();
        bad.balances[0].0 += 1;
        assert_eq!(bad.payouts([100, 50]), Err(StateRuleError::Unbalanced));
    }

    #[test]
    fn a_signature_binds_the_chain_and_the_channel() {
        let keys = [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])];
        let public = [keys[0].public_key(), keys[1].public_key()];
        let s = state();
        let signed = SignedState {
            signatures: [s.sign(&keys[0]), s.sign(&keys[1])],
            state: s.clone(),
        };
        assert_eq!(signed.verify(&public), Ok(()));
        for change in [
            |s: &mut ChannelState| s.chain_id = ChainId(1338),
            |s: &mut ChannelState| s.channel = Hash([8; 32]),
            |s: &mut ChannelState| s.version = 1,
        ] {
            let mut other = signed.clone();
            change(&mut other.state);
            assert_eq!(other.verify(&public), Err(StateRuleError::BadSignature(0)));
        }
        let swapped = [public[1], public[0]];
        assert_eq!(
            signed.verify(&swapped),
            Err(StateRuleError::BadSignature(0))
        );
    }

    #[test]
    fn encodings_stay_within_their_limits() {
        let mut s = state();
        s.deposited = [Amount(u128::MAX); 2];
        s.balances = [Amount(u128::MAX); 2];
        assert_eq!(s.encode().len(), ChannelState::MAX_ENCODED_LEN);
        let signed = SignedState {
            state: s.clone(),
            signatures: [Signature([0; 64]); 2],
        };
        assert_eq!(signed.encode().len(), SignedState::MAX_ENCODED_LEN);
        let propose = PeerMsg::Propose {
            state: s,
            signature: Signature([0; 64]),
        };
        assert!(propose.encode().len() < MAX_FRAME);
        let refuse = PeerMsg::Refuse {
            version: 1,
            reason: BoundedString::truncate_from("x".repeat(1000)),
        };
        assert!(refuse.encode().len() < MAX_FRAME);
        assert!(ChannelState::decode(&[0; 114]).is_err());
    }
}
