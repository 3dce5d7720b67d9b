//! The chain actor: what this node knows of the chain above its committed state, owned by
//! one loop. It builds proposals (`BuildProposal` from the bus) and answers the verification
//! and execution loops through its [`Mailbox`].

mod actor;
mod ingress;

pub(super) use actor::{ChainActor, Known};
pub(super) use ingress::Mailbox;
