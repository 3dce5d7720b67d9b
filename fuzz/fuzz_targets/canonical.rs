//! What every decoding target checks of a [`Canonical`] type.

use lamina_interop::codec::Canonical;

/// The value `data` decodes to, if any; one that decodes re-encodes to the same bytes.
pub fn round_trips<T: Canonical>(data: &[u8]) -> Option<T> {
    let value = T::decode(data).ok()?;
    assert_eq!(value.encode(), data, "{} is not canonical", T::NAME);
    Some(value)
}
