//! The block cache: blocks by id, owned by one actor, which answers the application side,
//! the finalizer and peers, and asks peers for what it lacks.
//!
//! A block is kept if someone waits for it, or if it is above the finalized tip by at most
//! half the cache; the lowest blocks leave first when the cache is full. A block missing from
//! the cache is asked of every peer (by the fetching caller, after a wait and again after
//! each fetch timeout); peers answer from their cache or their finalized chain. Since a
//! block's id is the hash of its header and the header commits to the body, a peer cannot
//! substitute another block.

mod actor;
mod ingress;

pub(crate) use actor::BlocksActor;
pub(crate) use ingress::{route, Mailbox};
