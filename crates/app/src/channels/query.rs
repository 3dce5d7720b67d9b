//! What clients can ask the module, answered from committed state.

use lamina_interop::module::StateView;
use lamina_interop::Hash;
use serde::{Deserialize, Serialize};

use super::{Channel, ChannelsError, Params, CHANNELS, PARAMS};

/// A query. As JSON: `{"channel": {"channel": "0x…"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ChannelsQuery {
    /// A channel.
    Channel {
        /// Its id.
        channel: Hash,
    },
    /// The rules.
    Params,
}

/// A channel and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelView {
    /// Its id.
    pub id: Hash,
    /// The record.
    #[serde(flatten)]
    pub channel: Channel,
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelsResponse {
    /// A channel, or null.
    Channel(Option<Box<ChannelView>>),
    /// The rules.
    Params(Option<Params>),
}

pub(super) fn answer(
    query: ChannelsQuery,
    state: &dyn StateView,
) -> Result<ChannelsResponse, ChannelsError> {
    Ok(match query {
        ChannelsQuery::Channel { channel } => {
            ChannelsResponse::Channel(CHANNELS.get_committed(state, &channel)?.map(|record| {
                Box::new(ChannelView {
                    id: channel,
                    channel: record,
                })
            }))
        }
        ChannelsQuery::Params => ChannelsResponse::Params(PARAMS.get_committed(state)?),
    })
}
