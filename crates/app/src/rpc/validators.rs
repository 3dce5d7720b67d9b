//! `chain_getValidators`: how each validator of the current epoch did over recent finalized
//! blocks, read from the blocks' headers and certificates alone.
//!
//! ```text
//! proposed  blocks whose header names the validator's address as proposer
//! signed    certificates that carry the validator's vote (its position in the set)
//! missed    views skipped before a certified block whose leader was the validator:
//!           a block finalized in view v with its parent in view p proves views p+1..v-1
//!           ended without a block (simplex nullifies a view before moving past it)
//! ```
//!
//! Leaders rotate as the chain's simplex elects them: the leader of view `v` in epoch `e` is
//! the set's key at position `(e + v) mod n` (keys ascending, as a certificate's signers
//! count them). A block without a certificate of its own (its finality comes from a later
//! block's) does not say which views preceded it; such blocks are counted in `uncertified`.
//! A solo chain certifies each block in view `height` after `height - 1`: nothing is missed.

use lamina_interop::chain::ChainReader;
use lamina_interop::finality::{FinalityCertificate, ValidatorSet};
use lamina_interop::messages::StoreError;
use lamina_interop::{Address, Height};

use super::{ValidatorActivity, ValidatorsView};

/// Blocks counted when the caller names no number.
pub const DEFAULT_WINDOW: u32 = 256;
/// Most blocks one call counts.
pub const MAX_WINDOW: u32 = 1024;

/// What the node knows of its validators before reading the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatorSchedule {
    /// The set of epoch 0, from the chain spec.
    pub genesis: ValidatorSet,
    /// Blocks per epoch; `None` where the set never changes.
    pub epoch_blocks: Option<u64>,
}

impl ValidatorSchedule {
    /// The epoch that orders `height` (heights `e*L + 1 ..= (e+1)*L` are epoch `e`).
    pub fn epoch_of(&self, height: Height) -> u64 {
        match self.epoch_blocks {
            Some(blocks) if blocks > 0 && height.0 > 0 => (height.0 - 1) / blocks,
            _ => 0,
        }
    }

    /// The first height of `epoch`.
    pub fn first_height(&self, epoch: u64) -> Height {
        match self.epoch_blocks {
            Some(blocks) if blocks > 0 => Height(epoch.saturating_mul(blocks).saturating_add(1)),
            _ => Height(1),
        }
    }
}

/// Counts, per member of one set, what the blocks shown to it say.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    addresses: Vec<Address>,
    rows: Vec<ValidatorActivity>,
    uncertified: u64,
}

impl Tally {
    /// Nothing counted yet, for `set`.
    pub(crate) fn new(set: &ValidatorSet) -> Tally {
        let rows: Vec<ValidatorActivity> = set
            .keys
            .iter()
            .map(|key| ValidatorActivity {
                key: *key,
                address: Address::of(key),
                proposed: 0,
                signed: 0,
                missed: 0,
            })
            .collect();
        Tally {
            addresses: rows.iter().map(|r| r.address).collect(),
            rows,
            uncertified: 0,
        }
    }

    /// Counts one finalized block of the set's epoch: its proposer, and its certificate when
    /// it has one of its own.
    pub(crate) fn block(&mut self, proposer: &Address, certificate: Option<&FinalityCertificate>) {
        if let Some(i) = self.addresses.iter().position(|a| a == proposer) {
            self.rows[i].proposed += 1;
        }
        let Some(certificate) = certificate else {
            self.uncertified += 1;
            return;
        };
        for vote in certificate.votes.iter() {
            if let Some(row) = self.rows.get_mut(vote.signer as usize) {
                row.signed += 1;
            }
        }
        self.skipped(
            certificate.epoch,
            certificate.parent_view.saturating_add(1),
            certificate.view,
        );
    }

    /// Charges views `first..end` to their leaders: whole rounds of the set at once, so a
    /// long outage costs O(set size), not O(views).
    fn skipped(&mut self, epoch: u64, first: u64, end: u64) {
        let n = self.rows.len() as u64;
        if n == 0 || end <= first {
            return;
        }
        let views = end - first;
        let (rounds, rest) = (views / n, views % n);
        for row in &mut self.rows {
            row.missed += rounds;
        }
        for view in first..first + rest {
            let leader = (epoch.wrapping_add(view) % n) as usize;
            self.rows[leader].missed += 1;
        }
    }

    /// The counts, with the span they cover.
    pub(crate) fn finish(self, epoch: u64, from: Height, to: Height) -> ValidatorsView {
        ValidatorsView {
            epoch,
            from,
            to,
            uncertified: self.uncertified,
            validators: self.rows,
        }
    }
}

/// The set of `epoch`: the genesis set, or the one the chain proved at its change.
pub(crate) fn set_of(
    chain: &dyn ChainReader,
    schedule: &ValidatorSchedule,
    epoch: u64,
) -> Result<Option<ValidatorSet>, String> {
    if epoch == 0 {
        return Ok(Some(schedule.genesis.clone()));
    }
    let Some((_, proof)) = chain.set_change(epoch).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    match proof {
        lamina_interop::state_proof::StateProof::Member { value, .. } => {
            use lamina_interop::codec::Canonical as _;
            ValidatorSet::decode(&value)
                .map(Some)
                .map_err(|e| format!("the stored set of epoch {epoch}: {e}"))
        }
        lamina_interop::state_proof::StateProof::NonMember { .. } => Err(format!(
            "the stored proof of epoch {epoch}'s set proves no set"
        )),
    }
}

/// Counts the last `window` finalized blocks of the current epoch.
pub(crate) fn activity(
    chain: &dyn ChainReader,
    schedule: &ValidatorSchedule,
    window: u32,
) -> Result<ValidatorsView, String> {
    let window = u64::from(window.clamp(1, MAX_WINDOW));
    let store = |e: StoreError| e.to_string();
    let to = chain.finalized().map_err(store)?.unwrap_or(Height(0));
    let epoch = schedule.epoch_of(to);
    let set = set_of(chain, schedule, epoch)?
        .ok_or_else(|| format!("the node holds no set for epoch {epoch}"))?;
    let from = Height(
        schedule
            .first_height(epoch)
            .0
            .max(to.0.saturating_sub(window - 1))
            .max(1),
    );
    let mut tally = Tally::new(&set);
    for height in from.0..=to.0 {
        let Some(header) = chain.header(Height(height)).map_err(store)? else {
            continue;
        };
        let certificate = chain.certificate(Height(height)).map_err(store)?;
        tally.block(&header.proposer, certificate.as_ref());
    }
    Ok(tally.finish(epoch, from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lamina_interop::crypto::SecretKey;
    use lamina_interop::Hash;

    fn keys(n: u8) -> Vec<SecretKey> {
        let mut keys: Vec<SecretKey> = (1..=n).map(|i| SecretKey::from_seed([i; 32])).collect();
        keys.sort_by_key(|k| k.public_key());
        keys
    }

    fn certificate(
        set: &ValidatorSet,
        signers: &[&SecretKey],
        view: u64,
        parent: u64,
    ) -> FinalityCertificate {
        FinalityCertificate::sign(
            lamina_interop::ChainId(7),
            set,
            (view, parent),
            Hash([9; 32]),
            signers,
        )
    }

    #[test]
    fn skipped_views_are_charged_to_their_leaders_and_signers_and_proposers_counted() {
        let keys = keys(4);
        let set = ValidatorSet::new(3, keys.iter().map(|k| k.public_key()).collect()).unwrap();
        let mut tally = Tally::new(&set);
        let proposer = |i: usize| Address::of(&keys[i].public_key());
        // View 5 of epoch 3: leader (3 + 5) % 4 = 0, after view 4 (leader 3): nothing skipped.
        tally.block(
            &proposer(0),
            Some(&certificate(&set, &[&keys[0], &keys[1], &keys[2]], 5, 4)),
        );
        // View 8 after 5: views 6 and 7 skipped, their leaders 1 and 2.
        tally.block(
            &proposer(3),
            Some(&certificate(&set, &[&keys[1], &keys[2], &keys[3]], 8, 5)),
        );
        // A block finalized by a later certificate: counted as proposed, views unknown.
        tally.block(&proposer(1), None);
        let view = tally.finish(3, Height(10), Height(12));
        let got: Vec<(u64, u64, u64)> = view
            .validators
            .iter()
            .map(|v| (v.proposed, v.signed, v.missed))
            .collect();
        assert_eq!(got, vec![(1, 1, 0), (1, 2, 1), (0, 2, 1), (1, 1, 0)]);
        assert_eq!(view.uncertified, 1);
        assert_eq!(
            (view.from, view.to, view.epoch),
            (Height(10), Height(12), 3)
        );
    }

    #[test]
    fn a_long_outage_is_charged_in_whole_rounds_without_walking_every_view() {
        let keys = keys(3);
        let set = ValidatorSet::new(0, keys.iter().map(|k| k.public_key()).collect()).unwrap();
        let mut tally = Tally::new(&set);
        // Views 1..=10^12 + 1 skipped: 10^12 + 1 views over 3 leaders.
        let skipped = 1_000_000_000_001u64;
        tally.block(
            &Address([0; 32]),
            Some(&certificate(&set, &[&keys[0]], skipped + 1, 0)),
        );
        let missed: Vec<u64> = tally
            .finish(0, Height(1), Height(1))
            .validators
            .iter()
            .map(|v| v.missed)
            .collect();
        assert_eq!(missed.iter().sum::<u64>(), skipped);
        // 10^12 + 1 = 3 * 333_333_333_333 + 2: views 1 and 2 (leaders 1 and 2) are the rest.
        assert_eq!(
            missed,
            vec![333_333_333_333, 333_333_333_334, 333_333_333_334]
        );
    }

    #[test]
    fn a_solo_chains_certificates_miss_nothing() {
        let keys = keys(1);
        let set = ValidatorSet::new(0, vec![keys[0].public_key()]).unwrap();
        let mut tally = Tally::new(&set);
        for height in 1..=5 {
            tally.block(
                &Address::of(&keys[0].public_key()),
                Some(&certificate(&set, &[&keys[0]], height, height - 1)),
            );
        }
        let view = tally.finish(0, Height(1), Height(5));
        assert_eq!(
            (
                view.validators[0].proposed,
                view.validators[0].signed,
                view.validators[0].missed
            ),
            (5, 5, 0)
        );
    }

    #[test]
    fn epochs_split_heights_as_the_light_client_does() {
        let set = ValidatorSet::new(0, keys(1).iter().map(|k| k.public_key()).collect()).unwrap();
        let schedule = ValidatorSchedule {
            genesis: set,
            epoch_blocks: Some(10),
        };
        assert_eq!(schedule.epoch_of(Height(10)), 0);
        assert_eq!(schedule.epoch_of(Height(11)), 1);
        assert_eq!(schedule.first_height(1), Height(11));
    }
}
