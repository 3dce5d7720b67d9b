//! The off-chain side of a channel: the newest state both parties signed, the rules for
//! what to sign next, and a store that survives a crash.
//!
//! ```text
//! <dir>/<channel id>.json   ChannelInfo: chain, keys, which party this store is, asset
//! <dir>/<channel id>.log    frames of [len: u32 LE][SignedState borsh], appended per update
//! ```
//!
//! Loading takes the last frame that decodes and whose signatures verify: a torn write at a
//! crash loses at most the update being written, never an earlier one. Each update is
//! written to the operating system before it is acknowledged to the peer (a killed process
//! loses nothing); it reaches the disk at the next [`ChannelStore::sync`], which the CLI runs
//! every 100 ms and at exit (a power failure may lose that window). The log is rewritten with
//! its last state alone when it passes [`COMPACT_AFTER`] frames.
//!
//! A watchtower keeps the same files, copied from a party, and needs no key of the channel:
//! a state signed by both can be submitted by anyone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use lamina_interop::channel::{ChannelState, SignedState, StateRuleError};
use lamina_interop::codec::Canonical;
use lamina_interop::crypto::{PublicKey, SecretKey, Signature};
use lamina_interop::module::Amount;
use lamina_interop::{ChainId, Hash};
use serde::{Deserialize, Serialize};

/// Frames a log holds before it is rewritten with its last state.
pub const COMPACT_AFTER: u64 = 65_536;

/// What a store knows of its channel besides the states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelInfo {
    /// The chain.
    pub chain_id: ChainId,
    /// The channel.
    pub channel: Hash,
    /// The parties' keys, in the channel's order.
    pub keys: [PublicKey; 2],
    /// Which party keeps this store (a watchtower's copy keeps its party's number).
    pub me: usize,
    /// The asset.
    pub asset: u32,
    /// The deposits when the store was made: the split before any payment.
    pub opening: [Amount; 2],
}

impl ChannelInfo {
    /// The opening split: version 0, unsigned.
    pub fn opening_state(&self) -> ChannelState {
        ChannelState::opening(self.chain_id, self.channel, self.opening.map(|a| a.0))
    }
}

/// The newest state of a channel: signed by both, or the opening split (version 0), which
/// needs no signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Latest {
    /// The deposits as they stood at opening (or at the last top-up seen).
    Opening(ChannelState),
    /// Signed by both.
    Signed(SignedState),
}

impl Latest {
    /// The state.
    pub fn state(&self) -> &ChannelState {
        match self {
            Latest::Opening(state) => state,
            Latest::Signed(signed) => &signed.state,
        }
    }

    /// The state with both signatures, if it has them.
    pub fn signed(&self) -> Option<&SignedState> {
        match self {
            Latest::Opening(_) => None,
            Latest::Signed(signed) => Some(signed),
        }
    }
}

/// Why a proposed state was not signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposalError {
    /// Another chain or channel.
    #[error("the state is for another chain or channel")]
    WrongChannel,
    /// Not exactly one version above the newest.
    #[error("version {got} does not follow {latest}")]
    WrongVersion {
        /// The newest version held.
        latest: u64,
        /// The proposal's.
        got: u64,
    },
    /// Nothing follows a final state.
    #[error("the channel's newest state is final")]
    AfterFinal,
    /// The proposal takes from the one asked to sign it.
    #[error("the state pays {lost} away from the signer")]
    TakesFromSigner {
        /// How much.
        lost: u128,
    },
    /// Deposits that went down, or that the chain does not hold.
    #[error("the state counts deposits the chain does not hold")]
    UnknownDeposits,
    /// A rule of every state.
    #[error(transparent)]
    Rule(#[from] StateRuleError),
    /// The proposer's signature does not verify.
    #[error("the proposer's signature does not verify")]
    BadSignature,
}

/// One party's channel: its info, its newest state, and its store.
#[derive(Debug)]
pub struct ChannelStore {
    info: ChannelInfo,
    latest: Latest,
    log: File,
    frames: u64,
    path: PathBuf,
}

impl ChannelStore {
    /// Creates the store of a channel just opened (or joined) in `dir`, starting from the
    /// opening split in `info`; a log there already keeps its newest state.
    pub fn create(dir: &Path, info: ChannelInfo) -> io::Result<ChannelStore> {
        fs::create_dir_all(dir)?;
        let base = dir.join(hex::encode(info.channel.0));
        let json = serde_json::to_vec_pretty(&info).map_err(io::Error::other)?;
        write_atomically(&base.with_extension("json"), &json)?;
        let log_path = base.with_extension("log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let opening = info.opening_state();
        let mut store = ChannelStore {
            info,
            latest: Latest::Opening(opening),
            log,
            frames: 0,
            path: log_path,
        };
        let (latest, frames) = read_latest_counting(&store.path, &store.info.keys)?;
        if let Some(signed) = latest {
            store.latest = Latest::Signed(signed);
        }
        store.frames = frames;
        Ok(store)
    }

    /// Opens the store of `channel` in `dir`.
    pub fn open(dir: &Path, channel: &Hash) -> io::Result<ChannelStore> {
        let base = dir.join(hex::encode(channel.0));
        let info: ChannelInfo = serde_json::from_slice(&fs::read(base.with_extension("json"))?)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let log_path = base.with_extension("log");
        let (latest, frames) = match read_latest_counting(&log_path, &info.keys)? {
            (Some(signed), frames) => (Latest::Signed(signed), frames),
            (None, frames) => (Latest::Opening(info.opening_state()), frames),
        };
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        Ok(ChannelStore {
            info,
            latest,
            log,
            frames,
            path: log_path,
        })
    }

    /// The ids of the channels stored in `dir`.
    pub fn list(dir: &Path) -> io::Result<Vec<Hash>> {
        let mut ids = Vec::new();
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(ids),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(stem) = name.strip_suffix(".json") {
                if let Ok(id) = Hash::from_hex(stem) {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// What the store knows of its channel.
    pub fn info(&self) -> &ChannelInfo {
        &self.info
    }

    /// The newest state.
    pub fn latest(&self) -> &Latest {
        &self.latest
    }

    /// This party's balance in the newest state.
    pub fn my_balance(&self) -> u128 {
        self.latest.state().balances[self.info.me].0
    }

    /// The next state that pays `amount` to the other party, signed by this one; `None`
    /// when the balance is short or the newest state is final.
    pub fn propose_payment(
        &self,
        key: &SecretKey,
        amount: u128,
    ) -> Option<(ChannelState, Signature)> {
        let next = self.latest.state().pay(self.info.me, amount)?;
        let signature = next.sign(key);
        Some((next, signature))
    }

    /// The next state that counts this party's deposits as `deposits[me]` (what the chain
    /// holds after a top-up), the difference added to its balance, signed by this one: how
    /// a top-up becomes spendable off chain. `None` when nothing was added.
    pub fn propose_deposit(
        &self,
        key: &SecretKey,
        deposits: [u128; 2],
    ) -> Option<(ChannelState, Signature)> {
        let me = self.info.me;
        let current = self.latest.state();
        let added = deposits[me]
            .checked_sub(current.deposited[me].0)
            .filter(|a| *a > 0)?;
        if current.is_final {
            return None;
        }
        let mut next = current.clone();
        next.version = current.version.checked_add(1)?;
        next.deposited[me].0 = deposits[me];
        next.balances[me].0 = current.balances[me].0.checked_add(added)?;
        let signature = next.sign(key);
        Some((next, signature))
    }

    /// The final state on the current split, signed by this one: what a cooperative close
    /// asks the other party to sign.
    pub fn propose_final(&self, key: &SecretKey) -> Option<(ChannelState, Signature)> {
        let current = self.latest.state();
        if current.is_final {
            return None;
        }
        let mut next = current.clone();
        next.version = current.version.checked_add(1)?;
        next.is_final = true;
        let signature = next.sign(key);
        Some((next, signature))
    }

    /// Checks a state the other party proposes and signed: the next version of this
    /// channel, which takes nothing from this party and counts no deposits beyond
    /// `deposits` (what the chain holds; `None` when unknown: then deposits must not
    /// change). Returns this party's signature; nothing is stored ([`Self::accept`] stores).
    pub fn check_proposal(
        &self,
        key: &SecretKey,
        state: &ChannelState,
        signature: &Signature,
        deposits: Option<[u128; 2]>,
    ) -> Result<Signature, ProposalError> {
        // Before any signed state, the opening split is whatever deposits the proposal
        // counts (the two stores may have been made at different deposits): each party then
        // holds what it counted of its own.
        let opening;
        let latest = match &self.latest {
            Latest::Signed(signed) => &signed.state,
            Latest::Opening(_) => {
                opening = ChannelState::opening(
                    self.info.chain_id,
                    self.info.channel,
                    state.deposited.map(|a| a.0),
                );
                &opening
            }
        };
        if state.chain_id != self.info.chain_id || state.channel != self.info.channel {
            return Err(ProposalError::WrongChannel);
        }
        if latest.is_final {
            return Err(ProposalError::AfterFinal);
        }
        if Some(state.version) != latest.version.checked_add(1) {
            return Err(ProposalError::WrongVersion {
                latest: latest.version,
                got: state.version,
            });
        }
        state.check_balanced()?;
        let me = self.info.me;
        let known = self.latest.state().deposited;
        for party in 0..2 {
            let before = latest.deposited[party].0;
            let after = state.deposited[party].0;
            // Deposits beyond those this store knew of must be on the chain.
            let held = deposits.map_or(known[party].0, |d| d[party]);
            if after < before || after > held {
                return Err(ProposalError::UnknownDeposits);
            }
        }
        // What this party may claim: its balance before plus what it deposited since.
        let mine_before = latest.balances[me]
            .0
            .saturating_add(state.deposited[me].0 - latest.deposited[me].0);
        let mine_after = state.balances[me].0;
        if mine_after < mine_before {
            return Err(ProposalError::TakesFromSigner {
                lost: mine_before - mine_after,
            });
        }
        self.info.keys[1 - me]
            .verify_raw(&state.signing_bytes(), signature)
            .map_err(|_| ProposalError::BadSignature)?;
        Ok(state.sign(key))
    }

    /// Records `state`, which this party proposed and signed (`mine`), with the other
    /// party's signature `theirs`, after checking that one: written to the operating system
    /// before this returns.
    pub fn record(
        &mut self,
        state: ChannelState,
        mine: Signature,
        theirs: Signature,
    ) -> Result<SignedState, RecordError> {
        state.check_balanced()?;
        let other = 1 - self.info.me;
        self.info.keys[other]
            .verify_raw(&state.signing_bytes(), &theirs)
            .map_err(|_| StateRuleError::BadSignature(other))?;
        self.append(state, mine, theirs)
    }

    /// Checks a state the other party proposed ([`Self::check_proposal`]), signs it and
    /// records it: this party's signature, to send back.
    pub fn accept(
        &mut self,
        key: &SecretKey,
        state: ChannelState,
        theirs: Signature,
        deposits: Option<[u128; 2]>,
    ) -> Result<Signature, AcceptError> {
        let mine = self.check_proposal(key, &state, &theirs, deposits)?;
        self.append(state, mine, theirs)?;
        Ok(mine)
    }

    /// Appends a state whose signatures were checked; what was stored.
    fn append(
        &mut self,
        state: ChannelState,
        mine: Signature,
        theirs: Signature,
    ) -> Result<SignedState, RecordError> {
        if state.version <= self.latest.state().version && matches!(self.latest, Latest::Signed(_))
        {
            return Err(RecordError::NotNewer);
        }
        let mut signatures = [theirs; 2];
        signatures[self.info.me] = mine;
        let signed = SignedState { state, signatures };
        if self.frames >= COMPACT_AFTER {
            self.compact(&signed)?;
        } else {
            self.log.write_all(&frame(&signed))?;
            self.frames += 1;
        }
        self.latest = Latest::Signed(signed.clone());
        Ok(signed)
    }

    /// Flushes the log to the disk.
    pub fn sync(&self) -> io::Result<()> {
        self.log.sync_data()
    }

    fn compact(&mut self, signed: &SignedState) -> io::Result<()> {
        write_atomically(&self.path, &frame(signed))?;
        self.log = OpenOptions::new().append(true).open(&self.path)?;
        self.frames = 1;
        Ok(())
    }
}

/// A log frame: the length, then the state.
fn frame(signed: &SignedState) -> Vec<u8> {
    let bytes = signed.encode();
    let mut out = Vec::with_capacity(4 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(&bytes);
    out
}

/// Why a proposal was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    /// It breaks a rule: it is refused.
    #[error(transparent)]
    Proposal(#[from] ProposalError),
    /// It could not be recorded.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Why a state was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A signature or the balances are wrong.
    #[error(transparent)]
    Rule(#[from] StateRuleError),
    /// Not newer than the state held.
    #[error("not newer than the state held")]
    NotNewer,
    /// The log could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The last state in the log at `path` that decodes and verifies against `keys`.
pub fn read_latest(path: &Path, keys: &[PublicKey; 2]) -> io::Result<Option<SignedState>> {
    Ok(read_latest_counting(path, keys)?.0)
}

fn read_latest_counting(
    path: &Path,
    keys: &[PublicKey; 2],
) -> io::Result<(Option<SignedState>, u64)> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, 0)),
        Err(e) => return Err(e),
    }
    // Every complete frame's place; a torn last frame is left out.
    let mut frames = Vec::new();
    let mut at = 0usize;
    while at + 4 <= bytes.len() {
        let len =
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        let end = at + 4 + len;
        if len > SignedState::MAX_ENCODED_LEN || end > bytes.len() {
            break;
        }
        frames.push((at + 4, end));
        at = end;
    }
    let count = frames.len() as u64;
    for &(start, end) in frames.iter().rev() {
        if let Ok(signed) = SignedState::decode(&bytes[start..end]) {
            if signed.verify(keys).is_ok() {
                return Ok((Some(signed), count));
            }
        }
    }
    Ok((None, count))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
    }
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use lamina_interop::channel::channel_id;

    fn dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("lamina-channel-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    fn keys() -> [SecretKey; 2] {
        [SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32])]
    }

    /// Both parties' stores of one channel of 1,000 deposited by party 0.
    fn pair(name: &str) -> (PathBuf, [ChannelStore; 2]) {
        let keys = keys();
        let public = [keys[0].public_key(), keys[1].public_key()];
        let base = dir(name);
        let stores = [0, 1].map(|me| {
            let info = ChannelInfo {
                chain_id: ChainId(7),
                channel: channel_id(&public, 1),
                keys: public,
                me,
                asset: 0,
                opening: [Amount(1_000), Amount(0)],
            };
            ChannelStore::create(&base.join(format!("party{me}")), info).unwrap()
        });
        (base, stores)
    }

    /// Party 0 pays `amount` to party 1, both record it.
    fn pay(stores: &mut [ChannelStore; 2], amount: u128) {
        let keys = keys();
        let (state, theirs) = stores[0].propose_payment(&keys[0], amount).unwrap();
        let mine = stores[1]
            .accept(&keys[1], state.clone(), theirs, None)
            .unwrap();
        stores[0].record(state, theirs, mine).unwrap();
    }

    #[test]
    fn both_sides_keep_the_newest_state_across_a_restart() {
        let (base, mut stores) = pair("restart");
        for _ in 0..10 {
            pay(&mut stores, 7);
        }
        let channel = stores[0].info().channel;
        for (me, store) in stores.iter().enumerate() {
            let again = ChannelStore::open(&base.join(format!("party{me}")), &channel).unwrap();
            assert_eq!(again.latest(), store.latest());
            assert_eq!(again.latest().state().version, 10);
            assert_eq!(again.latest().state().balances, [Amount(930), Amount(70)]);
        }
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_torn_or_corrupt_tail_loses_only_the_update_being_written() {
        let (base, mut stores) = pair("torn");
        for _ in 0..3 {
            pay(&mut stores, 1);
        }
        let channel = stores[1].info().channel;
        let dir = base.join("party1");
        let log = dir.join(format!("{}.log", hex::encode(channel.0)));
        let whole = fs::read(&log).unwrap();
        // A crash in the middle of the fourth frame's write.
        let mut torn = whole.clone();
        torn.extend_from_slice(&whole[..100]);
        fs::write(&log, &torn).unwrap();
        assert_eq!(
            ChannelStore::open(&dir, &channel)
                .unwrap()
                .latest()
                .state()
                .version,
            3
        );
        // A flipped bit in the last frame: its signature fails, the one before stands.
        let mut flipped = whole.clone();
        let last = flipped.len() - 70;
        flipped[last] ^= 1;
        fs::write(&log, &flipped).unwrap();
        assert_eq!(
            ChannelStore::open(&dir, &channel)
                .unwrap()
                .latest()
                .state()
                .version,
            2
        );
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn proposals_that_break_the_rules_get_typed_refusals() {
        let (base, mut stores) = pair("refusals");
        pay(&mut stores, 100);
        let keys = keys();
        let signed = |state: &ChannelState| state.sign(&keys[0]);
        let next = stores[0].latest().state().pay(0, 10).unwrap();
        let check = |stores: &[ChannelStore; 2], state: &ChannelState, sig: &Signature| {
            stores[1].check_proposal(&keys[1], state, sig, None)
        };

        let mut other_chain = next.clone();
        other_chain.chain_id = ChainId(8);
        assert_eq!(
            check(&stores, &other_chain, &signed(&other_chain)),
            Err(ProposalError::WrongChannel)
        );
        let mut lower = next.clone();
        lower.version = 1;
        assert_eq!(
            check(&stores, &lower, &signed(&lower)),
            Err(ProposalError::WrongVersion { latest: 1, got: 1 })
        );
        // A proposal that pays the proposer out of the signer's balance.
        let backwards = stores[0].latest().state().pay(1, 10).unwrap();
        assert_eq!(
            check(&stores, &backwards, &signed(&backwards)),
            Err(ProposalError::TakesFromSigner { lost: 10 })
        );
        let mut unbalanced = next.clone();
        unbalanced.balances[1].0 += 5;
        assert_eq!(
            check(&stores, &unbalanced, &signed(&unbalanced)),
            Err(ProposalError::Rule(StateRuleError::Unbalanced))
        );
        let mut invented = next.clone();
        invented.deposited[1].0 += 5;
        invented.balances[1].0 += 5;
        assert_eq!(
            check(&stores, &invented, &signed(&invented)),
            Err(ProposalError::UnknownDeposits)
        );
        // The payee's own key instead of the payer's.
        assert_eq!(
            check(&stores, &next, &next.sign(&keys[1])),
            Err(ProposalError::BadSignature)
        );
        assert!(check(&stores, &next, &signed(&next)).is_ok());

        // A deposit the chain holds is counted; one it does not is refused.
        let (counted, sig) = stores[0].propose_deposit(&keys[0], [1_500, 0]).unwrap();
        assert_eq!(
            stores[1].check_proposal(&keys[1], &counted, &sig, Some([1_200, 0])),
            Err(ProposalError::UnknownDeposits)
        );
        assert!(stores[1]
            .check_proposal(&keys[1], &counted, &sig, Some([1_500, 0]))
            .is_ok());

        // Nothing after a final state.
        let (last, sig) = stores[0].propose_final(&keys[0]).unwrap();
        let mine = stores[1].accept(&keys[1], last.clone(), sig, None).unwrap();
        stores[0].record(last, sig, mine).unwrap();
        assert!(stores[0].propose_payment(&keys[0], 1).is_none());
        let after = {
            let mut s = stores[1].latest().state().clone();
            s.version += 1;
            s.is_final = false;
            s
        };
        assert_eq!(
            check(&stores, &after, &signed(&after)),
            Err(ProposalError::AfterFinal)
        );
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn a_payee_that_joined_after_a_top_up_accepts_the_first_payment() {
        let (base, stores) = pair("late");
        let keys = keys();
        // The payee's store was made after it deposited 250 more.
        let mut info = stores[1].info().clone();
        info.opening = [Amount(1_000), Amount(250)];
        let late = base.join("late");
        let mut payee = ChannelStore::create(&late, info).unwrap();
        let (state, theirs) = stores[0].propose_payment(&keys[0], 100).unwrap();
        assert_eq!(
            payee.check_proposal(&keys[1], &state, &theirs, Some([1_000, 250])),
            Ok(state.sign(&keys[1]))
        );
        // Without the chain's word, a proposal that counts other deposits is refused.
        let (more, sig) = stores[0].propose_deposit(&keys[0], [1_500, 0]).unwrap();
        assert_eq!(
            payee.check_proposal(&keys[1], &more, &sig, None),
            Err(ProposalError::UnknownDeposits)
        );
        let mine = payee
            .accept(&keys[1], state, theirs, Some([1_000, 250]))
            .unwrap();
        assert_eq!(payee.latest().state().balances, [Amount(900), Amount(100)]);
        assert_eq!(payee.latest().signed().unwrap().signatures[1], mine);
        fs::remove_dir_all(base).unwrap();
    }

    #[test]
    fn the_log_is_compacted_to_its_newest_state() {
        let (base, mut stores) = pair("compact");
        stores[1].frames = COMPACT_AFTER;
        pay(&mut stores, 1);
        assert_eq!(stores[1].frames, 1);
        pay(&mut stores, 1);
        let channel = stores[1].info().channel;
        let again = ChannelStore::open(&base.join("party1"), &channel).unwrap();
        assert_eq!(again.latest().state().version, 2);
        assert_eq!(again.frames, 2);
        fs::remove_dir_all(base).unwrap();
    }
}
