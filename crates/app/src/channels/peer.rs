//! Two channel processes over TCP: a challenge-response handshake on both sides, then
//! proposals and their answers, one at a time.
//!
//! ```text
//! payer                                   payee
//! Hello{channel, key, c1}          ->
//!                                  <-     Hello{channel, key, c2}, Proof{sign(c1)}
//! Proof{sign(c2)}                  ->
//! Propose{state v+1, sig}          ->     checked (next version, takes nothing from the
//!                                         payee, deposits the chain holds), recorded
//!                                  <-     Accept{v+1, sig} | Refuse{v+1, reason}
//! ```
//!
//! Frames are a 4-byte little-endian length and a [`PeerMsg`] in borsh, at most
//! [`MAX_FRAME`] bytes; a longer length closes the connection before anything is read.
//! The handshake's signatures are made under [`PEER_DOMAIN`](lamina_interop::channel::PEER_DOMAIN) with the chain id, so a
//! process proves it holds the channel's other key, and a proof made for one connection
//! (its random challenge) is worth nothing on another.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use lamina_interop::channel::{handshake_bytes, ChannelState, PeerMsg, SignedState, MAX_FRAME};
use lamina_interop::codec::{BoundedString, Canonical, DecodeError};
use lamina_interop::crypto::{PublicKey, SecretKey, Signature};
use lamina_interop::{ChainId, Hash};
use rand::RngCore;

use super::client::{AcceptError, ChannelInfo, ChannelStore, RecordError};
use super::{Channel, Phase};

/// How long a connection waits for the other side before giving up.
pub const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the payee flushes its log to the disk while payments arrive.
pub const SYNC_EVERY: Duration = Duration::from_millis(100);

/// What went wrong between two processes.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The connection failed or timed out.
    #[error("connection: {0}")]
    Io(#[from] io::Error),
    /// A frame longer than the limit.
    #[error("a frame of {0} bytes is over the limit")]
    FrameTooLarge(usize),
    /// Bytes that are not a message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The other side broke the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The other side's handshake does not prove the channel's other key.
    #[error("the peer does not hold the channel's other key")]
    Unauthenticated,
    /// The other side refused a proposal.
    #[error("the peer refused version {version}: {reason}")]
    Refused {
        /// The version.
        version: u64,
        /// Its reason.
        reason: String,
    },
    /// Nothing to propose: the balance is short, or the state is final.
    #[error("cannot propose: {0}")]
    CannotPropose(&'static str),
    /// A state that could not be recorded.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The channel is unknown to this side or to the chain, or not open.
    #[error("channel: {0}")]
    Channel(String),
}

fn write_msg(w: &mut impl Write, msg: &PeerMsg) -> Result<(), PeerError> {
    let bytes = msg.encode();
    w.write_all(&(bytes.len() as u32).to_le_bytes())?;
    w.write_all(&bytes)?;
    w.flush()?;
    Ok(())
}

fn read_msg(r: &mut impl Read) -> Result<PeerMsg, PeerError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(PeerError::FrameTooLarge(len));
    }
    let mut bytes = vec![0u8; len];
    r.read_exact(&mut bytes)?;
    Ok(PeerMsg::decode(&bytes)?)
}

fn challenge() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
}

impl Conn {
    fn new(stream: TcpStream) -> Result<Conn, PeerError> {
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(Conn {
            reader: BufReader::new(stream.try_clone()?),
            writer: BufWriter::new(stream),
        })
    }

    fn send(&mut self, msg: &PeerMsg) -> Result<(), PeerError> {
        write_msg(&mut self.writer, msg)
    }

    fn recv(&mut self) -> Result<PeerMsg, PeerError> {
        read_msg(&mut self.reader)
    }

    /// Receives the other side's proof of `challenge` and checks it against `key`.
    fn expect_proof(
        &mut self,
        chain_id: ChainId,
        channel: &Hash,
        key: &PublicKey,
        challenge: &[u8; 32],
    ) -> Result<(), PeerError> {
        match self.recv()? {
            PeerMsg::Proof { signature } => key
                .verify_raw(&handshake_bytes(chain_id, channel, challenge), &signature)
                .map_err(|_| PeerError::Unauthenticated),
            other => Err(unexpected(&other)),
        }
    }
}

fn unexpected(msg: &PeerMsg) -> PeerError {
    let name = match msg {
        PeerMsg::Hello { .. } => "hello",
        PeerMsg::Proof { .. } => "proof",
        PeerMsg::Propose { .. } => "propose",
        PeerMsg::Accept { .. } => "accept",
        PeerMsg::Refuse { .. } => "refuse",
    };
    PeerError::Protocol(format!("unexpected {name}"))
}

/// The side that proposes: a connection to the other party of `store`'s channel.
pub struct Proposer<'a> {
    conn: Conn,
    store: &'a mut ChannelStore,
    key: &'a SecretKey,
    last_sync: Instant,
}

impl<'a> Proposer<'a> {
    /// Connects to the other party at `addr` and runs the handshake.
    pub fn connect(
        addr: &str,
        store: &'a mut ChannelStore,
        key: &'a SecretKey,
    ) -> Result<Proposer<'a>, PeerError> {
        let info = store.info().clone();
        let me = info.me;
        if info.keys[me] != key.public_key() {
            return Err(PeerError::Channel(
                "the key is not this store's party".into(),
            ));
        }
        let mut conn = Conn::new(TcpStream::connect(addr)?)?;
        let mine = challenge();
        conn.send(&PeerMsg::Hello {
            channel: info.channel,
            key: key.public_key(),
            challenge: mine,
        })?;
        let theirs = match conn.recv()? {
            PeerMsg::Hello {
                channel,
                key: their_key,
                challenge,
            } if channel == info.channel && their_key == info.keys[1 - me] => challenge,
            PeerMsg::Hello { .. } => return Err(PeerError::Unauthenticated),
            PeerMsg::Refuse { reason, .. } => return Err(PeerError::Channel(reason.to_string())),
            other => return Err(unexpected(&other)),
        };
        conn.expect_proof(info.chain_id, &info.channel, &info.keys[1 - me], &mine)?;
        conn.send(&PeerMsg::Proof {
            signature: key.sign_raw(&handshake_bytes(info.chain_id, &info.channel, &theirs)),
        })?;
        Ok(Proposer {
            conn,
            store,
            key,
            last_sync: Instant::now(),
        })
    }

    /// The store.
    pub fn store(&self) -> &ChannelStore {
        self.store
    }

    /// Pays `amount` to the other party; the version both now hold.
    pub fn pay(&mut self, amount: u128) -> Result<u64, PeerError> {
        let (state, signature) =
            self.store
                .propose_payment(self.key, amount)
                .ok_or(PeerError::CannotPropose(
                    "the balance is short or the state final",
                ))?;
        Ok(self.propose(state, signature)?.state.version)
    }

    /// Agrees a final state with the other party, for a cooperative close.
    pub fn finish(&mut self) -> Result<SignedState, PeerError> {
        let (state, signature) = self
            .store
            .propose_final(self.key)
            .ok_or(PeerError::CannotPropose("the state is final already"))?;
        let signed = self.propose(state, signature)?;
        self.store.sync()?;
        Ok(signed)
    }

    /// Makes the chain's `deposits` spendable off chain (after a top-up).
    pub fn count_deposits(&mut self, deposits: [u128; 2]) -> Result<u64, PeerError> {
        let (state, signature) = self
            .store
            .propose_deposit(self.key, deposits)
            .ok_or(PeerError::CannotPropose("no new deposit"))?;
        Ok(self.propose(state, signature)?.state.version)
    }

    fn propose(
        &mut self,
        state: ChannelState,
        signature: Signature,
    ) -> Result<SignedState, PeerError> {
        let version = state.version;
        self.conn.send(&PeerMsg::Propose {
            state: state.clone(),
            signature,
        })?;
        match self.conn.recv()? {
            PeerMsg::Accept {
                version: accepted,
                signature: theirs,
            } if accepted == version => {
                let recorded = self.store.record(state, signature, theirs)?;
                if self.last_sync.elapsed() >= SYNC_EVERY {
                    self.store.sync()?;
                    self.last_sync = Instant::now();
                }
                Ok(recorded)
            }
            PeerMsg::Refuse { version, reason } => Err(PeerError::Refused {
                version,
                reason: reason.to_string(),
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Flushes the store to the disk.
    pub fn sync(&self) -> Result<(), PeerError> {
        Ok(self.store.sync()?)
    }
}

/// What the accepting side reads of the chain.
pub trait ChainView {
    /// A channel's record, or `None`.
    fn channel(&mut self, id: &Hash) -> Result<Option<Channel>, String>;
}

/// What one served connection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Served {
    /// The channel.
    pub channel: Option<Hash>,
    /// Proposals accepted.
    pub accepted: u64,
    /// Proposals refused.
    pub refused: u64,
    /// The newest version held at the end.
    pub version: u64,
}

/// Serves one connection on the accepting side: the channel's store in `dir` (made from
/// the chain's record on first contact), the handshake, then every proposal until the other
/// side hangs up.
pub fn serve(
    stream: TcpStream,
    dir: &Path,
    key: &SecretKey,
    chain_id: ChainId,
    chain: &mut dyn ChainView,
) -> Result<Served, PeerError> {
    let mut conn = Conn::new(stream)?;
    let (channel, their_key, theirs) = match conn.recv()? {
        PeerMsg::Hello {
            channel,
            key,
            challenge,
        } => (channel, key, challenge),
        other => return Err(unexpected(&other)),
    };
    let refuse = |conn: &mut Conn, why: String| -> PeerError {
        let _ = conn.send(&PeerMsg::Refuse {
            version: 0,
            reason: BoundedString::truncate_from(why.clone()),
        });
        PeerError::Channel(why)
    };
    let mut store = match open_or_join(dir, key, chain_id, &channel, chain) {
        Ok(store) => store,
        Err(why) => return Err(refuse(&mut conn, why)),
    };
    let me = store.info().me;
    if store.info().keys[1 - me] != their_key {
        return Err(refuse(&mut conn, "not a party of this channel".into()));
    }
    let mine = challenge();
    conn.send(&PeerMsg::Hello {
        channel,
        key: key.public_key(),
        challenge: mine,
    })?;
    conn.send(&PeerMsg::Proof {
        signature: key.sign_raw(&handshake_bytes(chain_id, &channel, &theirs)),
    })?;
    conn.expect_proof(chain_id, &channel, &their_key, &mine)?;

    let mut served = Served {
        channel: Some(channel),
        version: store.latest().state().version,
        ..Served::default()
    };
    // However the exchange ends, what was accepted is on the disk before this returns.
    let result = answer_proposals(&mut conn, &mut store, key, chain, &channel, &mut served);
    store.sync()?;
    result.map(|()| served)
}

/// Answers the peer's proposals, one at a time, until it hangs up; the store is synced at
/// least every [`SYNC_EVERY`], and by the caller at the end.
fn answer_proposals(
    conn: &mut Conn,
    store: &mut ChannelStore,
    key: &SecretKey,
    chain: &mut dyn ChainView,
    channel: &Hash,
    served: &mut Served,
) -> Result<(), PeerError> {
    let mut last_sync = Instant::now();
    loop {
        let msg = match conn.recv() {
            Ok(msg) => msg,
            Err(PeerError::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let PeerMsg::Propose { state, signature } = msg else {
            return Err(unexpected(&msg));
        };
        let version = state.version;
        // Deposits that changed are checked against the chain.
        let deposits = if state.deposited != store.latest().state().deposited {
            chain
                .channel(channel)
                .ok()
                .flatten()
                .map(|record| record.deposit_amounts())
        } else {
            None
        };
        let answer = match store.accept(key, state, signature, deposits) {
            Ok(mine) => {
                served.accepted += 1;
                served.version = version;
                PeerMsg::Accept {
                    version,
                    signature: mine,
                }
            }
            Err(AcceptError::Proposal(e)) => {
                served.refused += 1;
                PeerMsg::Refuse {
                    version,
                    reason: BoundedString::truncate_from(e.to_string()),
                }
            }
            Err(AcceptError::Record(e)) => return Err(e.into()),
        };
        conn.send(&answer)?;
        if last_sync.elapsed() >= SYNC_EVERY {
            store.sync()?;
            last_sync = Instant::now();
        }
    }
}

/// The channel's store in `dir`, or a new one from the chain's record if this key is a
/// party of an open channel.
fn open_or_join(
    dir: &Path,
    key: &SecretKey,
    chain_id: ChainId,
    channel: &Hash,
    chain: &mut dyn ChainView,
) -> Result<ChannelStore, String> {
    if let Ok(store) = ChannelStore::open(dir, channel) {
        return Ok(store);
    }
    let record = chain
        .channel(channel)?
        .ok_or_else(|| format!("no channel {channel} on the chain"))?;
    if record.phase != Phase::Open {
        return Err(format!("channel {channel} is not open"));
    }
    let me = record
        .keys
        .iter()
        .position(|k| *k == key.public_key())
        .ok_or_else(|| "this key is not a party of the channel".to_string())?;
    let info = ChannelInfo {
        chain_id,
        channel: *channel,
        keys: record.keys,
        me,
        asset: record.asset,
        opening: record.deposits,
    };
    ChannelStore::create(dir, info).map_err(|e| e.to_string())
}
