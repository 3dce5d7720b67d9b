//! The one canonical encoding of everything Lamina hashes, signs or stores, and decoding of
//! untrusted bytes under explicit limits.
//!
//! The encoding is borsh: fixed-width little-endian integers, `u32` length prefixes, one byte
//! per enum tag, no field names, no padding. A value has exactly one encoding, so hashing the
//! encoding identifies the value.
//!
//! Decoding untrusted bytes goes through limits that are checked before anything is
//! allocated:
//!
//! 1. the whole input is refused when it is longer than the type's
//!    [`Canonical::MAX_ENCODED_LEN`];
//! 2. every variable-length field of a [`Canonical`] type is a [`BoundedVec`] or
//!    [`BoundedBytes`], whose length prefix is checked against its bound before the buffer is
//!    allocated;
//! 3. the input must be consumed exactly: trailing bytes are an error, so no two byte strings
//!    decode to the same value.

use std::fmt;
use std::io::{self, Read};
use std::ops::Deref;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

/// Why untrusted bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is longer than the largest valid encoding of the type.
    #[error("{what}: input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The type being decoded.
        what: &'static str,
        /// Length of the input.
        len: usize,
        /// The type's limit.
        max: usize,
    },
    /// A length prefix inside the input is larger than its field allows.
    #[error("{what}: length {len} exceeds the limit of {max}")]
    LengthExceeded {
        /// The field's type.
        what: &'static str,
        /// The length the input claimed.
        len: u64,
        /// The field's limit.
        max: u64,
    },
    /// The input ended in the middle of a value.
    #[error("{what}: input ended early")]
    UnexpectedEnd {
        /// The type being decoded.
        what: &'static str,
    },
    /// The value decoded but bytes were left over.
    #[error("{what}: {count} trailing bytes after the value")]
    TrailingBytes {
        /// The type being decoded.
        what: &'static str,
        /// How many bytes were left.
        count: usize,
    },
    /// The bytes do not form a valid value (an unknown enum tag, a non-0/1 bool, ...).
    #[error("{what}: invalid encoding: {reason}")]
    Invalid {
        /// The type being decoded.
        what: &'static str,
        /// What the decoder objected to.
        reason: String,
    },
}

/// A type with one canonical encoding and a bound on its size.
///
/// `decode` is the only way untrusted bytes become a value: it checks the overall length,
/// decodes with bounded collections, and refuses trailing bytes.
pub trait Canonical: BorshSerialize + BorshDeserialize {
    /// A short name used in errors.
    const NAME: &'static str;
    /// The largest valid encoding in bytes. Longer inputs are refused before decoding starts.
    const MAX_ENCODED_LEN: usize;

    /// The canonical encoding.
    fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    /// Decodes untrusted bytes.
    fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_limited(bytes, Self::NAME, Self::MAX_ENCODED_LEN)
    }
}

/// Encodes any borsh value.
///
/// # Panics
///
/// Only when a collection holds more than `u32::MAX` elements, which the bounded collection
/// types of this module rule out for every [`Canonical`] type.
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = Vec::new();
    value
        .serialize(&mut out)
        .expect("collections are bounded far below u32::MAX elements");
    out
}

/// Decodes `bytes` as a `T`, refusing inputs longer than `max` bytes and trailing bytes.
pub fn decode_limited<T: BorshDeserialize>(
    bytes: &[u8],
    what: &'static str,
    max: usize,
) -> Result<T, DecodeError> {
    if bytes.len() > max {
        return Err(DecodeError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let mut input = Input {
        rest: bytes,
        hit_end: false,
    };
    let value = T::deserialize_reader(&mut input).map_err(|err| {
        if input.hit_end {
            DecodeError::UnexpectedEnd { what }
        } else {
            from_io(what, err)
        }
    })?;
    if !input.rest.is_empty() {
        return Err(DecodeError::TrailingBytes {
            what,
            count: input.rest.len(),
        });
    }
    Ok(value)
}

/// The input of a decode, remembering whether the decoder asked for more than was there, so
/// that a short input is reported as such whatever error the decoder made of it.
struct Input<'a> {
    rest: &'a [u8],
    hit_end: bool,
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.len() > self.rest.len() {
            self.hit_end = true;
        }
        let n = buf.len().min(self.rest.len());
        let (head, tail) = self.rest.split_at(n);
        buf[..n].copy_from_slice(head);
        self.rest = tail;
        Ok(n)
    }
}

fn from_io(what: &'static str, err: io::Error) -> DecodeError {
    if let Some(limit) = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<LimitExceeded>())
    {
        return DecodeError::LengthExceeded {
            what: limit.what,
            len: limit.len,
            max: limit.max,
        };
    }
    DecodeError::Invalid {
        what,
        reason: err.to_string(),
    }
}

/// Carried inside an `io::Error` from a bounded collection's decoder so that [`decode_limited`]
/// can report it as [`DecodeError::LengthExceeded`].
#[derive(Debug)]
struct LimitExceeded {
    what: &'static str,
    len: u64,
    max: u64,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: length {} exceeds the limit of {}",
            self.what, self.len, self.max
        )
    }
}

impl std::error::Error for LimitExceeded {}

fn read_len(reader: &mut impl io::Read, what: &'static str, max: usize) -> io::Result<usize> {
    let len = u32::deserialize_reader(reader)?;
    if len as usize > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            LimitExceeded {
                what,
                len: u64::from(len),
                max: max as u64,
            },
        ));
    }
    Ok(len as usize)
}

/// A vector of at most `N` elements. It encodes exactly like `Vec<T>`; decoding checks the
/// length prefix against `N` before allocating.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct BoundedVec<T, const N: usize>(Vec<T>);

impl<T, const N: usize> BoundedVec<T, N> {
    /// The largest number of elements.
    pub const MAX_LEN: usize = N;

    /// An empty vector.
    pub fn new() -> Self {
        BoundedVec(Vec::new())
    }

    /// Wraps `items`, or hands them back when there are more than `N`.
    pub fn try_from_vec(items: Vec<T>) -> Result<Self, Vec<T>> {
        if items.len() > N {
            Err(items)
        } else {
            Ok(BoundedVec(items))
        }
    }

    /// Appends `item`, or hands it back when the vector is full.
    pub fn try_push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= N {
            return Err(item);
        }
        self.0.push(item);
        Ok(())
    }

    /// The elements.
    pub fn into_inner(self) -> Vec<T> {
        self.0
    }
}

impl<T, const N: usize> Default for BoundedVec<T, N> {
    fn default() -> Self {
        BoundedVec::new()
    }
}

impl<T, const N: usize> Deref for BoundedVec<T, N> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, const N: usize> fmt::Debug for BoundedVec<T, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: BorshSerialize, const N: usize> BorshSerialize for BoundedVec<T, N> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        BorshSerialize::serialize(&self.0, writer)
    }
}

impl<T: BorshDeserialize, const N: usize> BorshDeserialize for BoundedVec<T, N> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let len = read_len(reader, "BoundedVec", N)?;
        // The prefix is bounded, but the elements may still be missing: grow as they arrive
        // rather than trusting the prefix with a large allocation.
        let mut items = Vec::with_capacity(len.min(1024));
        for _ in 0..len {
            items.push(T::deserialize_reader(reader)?);
        }
        Ok(BoundedVec(items))
    }
}

impl<'de, T: Deserialize<'de>, const N: usize> Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        let len = items.len();
        BoundedVec::try_from_vec(items)
            .map_err(|_| serde::de::Error::custom(format!("length {len} exceeds the limit of {N}")))
    }
}

/// A byte string of at most `N` bytes. It encodes exactly like `Vec<u8>`; decoding checks the
/// length prefix against `N` before allocating. In JSON it is a hex string.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct BoundedBytes<const N: usize>(Vec<u8>);

impl<const N: usize> BoundedBytes<N> {
    /// The largest number of bytes.
    pub const MAX_LEN: usize = N;

    /// Wraps `bytes`, or hands them back when there are more than `N`.
    pub fn try_from_vec(bytes: Vec<u8>) -> Result<Self, Vec<u8>> {
        if bytes.len() > N {
            Err(bytes)
        } else {
            Ok(BoundedBytes(bytes))
        }
    }

    /// The bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

impl<const N: usize> Deref for BoundedBytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for BoundedBytes<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.len() <= 32 {
            write!(f, "0x{}", hex::encode(&self.0))
        } else {
            write!(
                f,
                "0x{}..({} bytes)",
                hex::encode(&self.0[..16]),
                self.0.len()
            )
        }
    }
}

impl<const N: usize> BorshSerialize for BoundedBytes<N> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        BorshSerialize::serialize(&self.0, writer)
    }
}

impl<const N: usize> BorshDeserialize for BoundedBytes<N> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let len = read_len(reader, "BoundedBytes", N)?;
        // Read in chunks so that a prefix promising more than the input holds costs at most
        // one chunk of memory before the read fails.
        let mut bytes = Vec::with_capacity(len.min(64 * 1024));
        let mut limited = reader.by_ref().take(len as u64);
        limited.read_to_end(&mut bytes)?;
        if bytes.len() != len {
            return Err(io::Error::from(io::ErrorKind::UnexpectedEof));
        }
        Ok(BoundedBytes(bytes))
    }
}

impl<const N: usize> Serialize for BoundedBytes<N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("0x{}", hex::encode(&self.0)))
    }
}

impl<'de, const N: usize> Deserialize<'de> for BoundedBytes<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(&text))
            .map_err(serde::de::Error::custom)?;
        let len = bytes.len();
        BoundedBytes::try_from_vec(bytes)
            .map_err(|_| serde::de::Error::custom(format!("{len} bytes exceed the limit of {N}")))
    }
}

/// UTF-8 text of at most `N` bytes. It encodes exactly like `String`; decoding checks the
/// length prefix against `N` before allocating.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize)]
#[serde(transparent)]
pub struct BoundedString<const N: usize>(String);

impl<const N: usize> BoundedString<N> {
    /// Wraps `text`, cutting it at a character boundary to fit `N` bytes. For messages such as
    /// error reasons, where a shortened text is better than none.
    pub fn truncate_from(mut text: String) -> Self {
        if text.len() > N {
            let mut end = N;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        BoundedString(text)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const N: usize> fmt::Debug for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const N: usize> fmt::Display for BoundedString<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const N: usize> BorshSerialize for BoundedString<N> {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        BorshSerialize::serialize(&self.0, writer)
    }
}

impl<const N: usize> BorshDeserialize for BoundedString<N> {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Self> {
        let bytes = BoundedBytes::<N>::deserialize_reader(reader)?.into_inner();
        String::from_utf8(bytes)
            .map(BoundedString)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "text is not UTF-8"))
    }
}

impl<'de, const N: usize> Deserialize<'de> for BoundedString<N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <String as Deserialize>::deserialize(deserializer)?;
        if text.len() > N {
            return Err(serde::de::Error::custom(format!(
                "{} bytes exceed the limit of {N}",
                text.len()
            )));
        }
        Ok(BoundedString(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, BorshSerialize, BorshDeserialize)]
    struct Sample {
        tag: u8,
        items: BoundedVec<u32, 4>,
        blob: BoundedBytes<8>,
    }

    impl Canonical for Sample {
        const NAME: &'static str = "Sample";
        const MAX_ENCODED_LEN: usize = 1 + 4 + 4 * 4 + 4 + 8;
    }

    fn sample() -> Sample {
        Sample {
            tag: 7,
            items: BoundedVec::try_from_vec(vec![1, 2, 3]).unwrap(),
            blob: BoundedBytes::try_from_vec(vec![9; 5]).unwrap(),
        }
    }

    #[test]
    fn bounded_types_encode_like_vec() {
        let v = BoundedVec::<u32, 4>::try_from_vec(vec![1, 2]).unwrap();
        assert_eq!(encode(&v), encode(&vec![1u32, 2]));
        let b = BoundedBytes::<8>::try_from_vec(vec![1, 2, 3]).unwrap();
        assert_eq!(encode(&b), encode(&vec![1u8, 2, 3]));
    }

    #[test]
    fn round_trip() {
        let s = sample();
        assert_eq!(Sample::decode(&s.encode()), Ok(s));
    }

    #[test]
    fn too_large_input_is_refused_before_decoding() {
        let mut bytes = sample().encode();
        bytes.resize(Sample::MAX_ENCODED_LEN + 1, 0);
        assert_eq!(
            Sample::decode(&bytes),
            Err(DecodeError::TooLarge {
                what: "Sample",
                len: 34,
                max: 33
            })
        );
    }

    #[test]
    fn length_prefix_over_bound_is_refused() {
        // tag, then a vector claiming 5 elements (bound 4).
        let bytes = [7u8, 5, 0, 0, 0];
        assert_eq!(
            Sample::decode(&bytes),
            Err(DecodeError::LengthExceeded {
                what: "BoundedVec",
                len: 5,
                max: 4
            })
        );
        let huge = [0u8, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(
            Sample::decode(&huge),
            Err(DecodeError::LengthExceeded {
                what: "BoundedBytes",
                len: u32::MAX as u64,
                max: 8
            })
        );
    }

    #[test]
    fn truncated_and_trailing_inputs_are_refused() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert_eq!(
                Sample::decode(&bytes[..cut]),
                Err(DecodeError::UnexpectedEnd { what: "Sample" }),
                "cut at {cut}"
            );
        }
        let mut long = bytes.clone();
        long.push(0);
        assert_eq!(
            Sample::decode(&long),
            Err(DecodeError::TrailingBytes {
                what: "Sample",
                count: 1
            })
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(matches!(
            decode_limited::<bool>(&[2], "bool", 1),
            Err(DecodeError::Invalid { what: "bool", .. })
        ));
        assert!(matches!(
            decode_limited::<Option<u8>>(&[3, 0], "Option", 2),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn bounded_string_truncates_at_char_boundary_and_checks_utf8() {
        let s = BoundedString::<4>::truncate_from("abé€".to_string());
        assert_eq!(s.as_str(), "abé");
        assert_eq!(encode(&s), encode(&"abé".to_string()));
        assert!(matches!(
            decode_limited::<BoundedString<4>>(&[2, 0, 0, 0, 0xff, 0xfe], "text", 6),
            Err(DecodeError::Invalid { .. })
        ));
    }

    #[test]
    fn push_and_wrap_respect_the_bound() {
        let mut v = BoundedVec::<u8, 2>::new();
        assert_eq!(v.try_push(1), Ok(()));
        assert_eq!(v.try_push(2), Ok(()));
        assert_eq!(v.try_push(3), Err(3));
        assert_eq!(BoundedBytes::<2>::try_from_vec(vec![0; 3]), Err(vec![0; 3]));
        assert!(serde_json::from_str::<BoundedBytes<2>>("\"0x000000\"").is_err());
        assert!(serde_json::from_str::<BoundedVec<u8, 2>>("[1,2,3]").is_err());
        let b: BoundedBytes<2> = serde_json::from_str("\"0x0102\"").unwrap();
        assert_eq!(&*b, &[1, 2]);
    }
}
