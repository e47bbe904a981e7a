//! The chain state: raw storage keys and SCALE values, as a real node keeps them, with typed
//! access to the items the runtime declares.
//!
//! Keys are built as subtensor's are (`twox128(pallet) ++ twox128(item) ++ hashed key parts`),
//! so clients reading raw storage (`state_getStorage`, `state_getKeysPaged`, ...) see exactly
//! what they see on a real node. The map is persistent: a block's state is an O(1) snapshot.

use frame_metadata::v15::{StorageEntryMetadata, StorageEntryModifier, StorageEntryType, StorageHasher};
use parity_scale_codec::{Decode, Encode};
use scale_info::{form::MetaForm, meta_type, MetaType, TypeInfo};

/// How a key part is hashed into the storage key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hasher {
    /// The SCALE bytes themselves.
    Identity,
    /// blake2-128 of the bytes, then the bytes.
    Blake2_128Concat,
    /// xxhash-64 of the bytes, then the bytes.
    Twox64Concat,
}

impl Hasher {
    fn hash(self, bytes: &[u8], out: &mut Vec<u8>) {
        match self {
            Hasher::Identity => {}
            Hasher::Blake2_128Concat => out.extend_from_slice(&sp_crypto_hashing::blake2_128(bytes)),
            Hasher::Twox64Concat => out.extend_from_slice(&sp_crypto_hashing::twox_64(bytes)),
        }
        out.extend_from_slice(bytes);
    }

    fn metadata(self) -> StorageHasher {
        match self {
            Hasher::Identity => StorageHasher::Identity,
            Hasher::Blake2_128Concat => StorageHasher::Blake2_128Concat,
            Hasher::Twox64Concat => StorageHasher::Twox64Concat,
        }
    }
}

/// The 32-byte prefix of every key of `pallet`'s `item`.
pub fn prefix(pallet: &str, item: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(32);
    key.extend_from_slice(&sp_crypto_hashing::twox_128(pallet.as_bytes()));
    key.extend_from_slice(&sp_crypto_hashing::twox_128(item.as_bytes()));
    key
}

/// The parts of a storage key, each SCALE-encoded and hashed with its own hasher.
pub trait KeyParts {
    /// Each part's SCALE bytes, in order.
    fn parts(&self) -> Vec<Vec<u8>>;
    /// The key type the metadata declares: the one part, or the tuple of all; `None` for a
    /// plain value.
    fn meta() -> Option<MetaType>;
}

impl KeyParts for () {
    fn parts(&self) -> Vec<Vec<u8>> {
        Vec::new()
    }
    fn meta() -> Option<MetaType> {
        None
    }
}

impl<A: Encode + TypeInfo + 'static> KeyParts for (A,) {
    fn parts(&self) -> Vec<Vec<u8>> {
        vec![self.0.encode()]
    }
    fn meta() -> Option<MetaType> {
        Some(meta_type::<A>())
    }
}

impl<A: Encode + TypeInfo + 'static, B: Encode + TypeInfo + 'static> KeyParts for (A, B) {
    fn parts(&self) -> Vec<Vec<u8>> {
        vec![self.0.encode(), self.1.encode()]
    }
    fn meta() -> Option<MetaType> {
        Some(meta_type::<(A, B)>())
    }
}

impl<A, B, C> KeyParts for (A, B, C)
where
    A: Encode + TypeInfo + 'static,
    B: Encode + TypeInfo + 'static,
    C: Encode + TypeInfo + 'static,
{
    fn parts(&self) -> Vec<Vec<u8>> {
        vec![self.0.encode(), self.1.encode(), self.2.encode()]
    }
    fn meta() -> Option<MetaType> {
        Some(meta_type::<(A, B, C)>())
    }
}

/// One storage item of the runtime.
pub trait Item {
    /// The pallet's name, as in the metadata.
    const PALLET: &'static str;
    /// The item's name.
    const NAME: &'static str;
    /// One hasher per key part.
    const HASHERS: &'static [Hasher];
    /// Its key parts: `()` for a plain value.
    type Key: KeyParts;
    /// Its value.
    type Value: Encode + Decode + TypeInfo + 'static;
    /// What a missing key reads as: `None` for an optional item.
    fn default_value() -> Option<Self::Value>;

    /// The full storage key of `key`.
    fn key(key: &Self::Key) -> Vec<u8> {
        let mut out = prefix(Self::PALLET, Self::NAME);
        for (part, hasher) in key.parts().iter().zip(Self::HASHERS) {
            hasher.hash(part, &mut out);
        }
        out
    }

    /// The item's entry in the runtime metadata.
    fn metadata() -> StorageEntryMetadata<MetaForm> {
        let default = Self::default_value();
        let modifier = if default.is_some() { StorageEntryModifier::Default } else { StorageEntryModifier::Optional };
        let ty = match <Self::Key as KeyParts>::meta() {
            None => StorageEntryType::Plain(meta_type::<Self::Value>()),
            Some(key) => StorageEntryType::Map {
                hashers: Self::HASHERS.iter().map(|h| h.metadata()).collect(),
                key,
                value: meta_type::<Self::Value>(),
            },
        };
        StorageEntryMetadata {
            name: Self::NAME,
            modifier,
            ty,
            default: default.map_or_else(|| vec![0], |value| value.encode()),
            docs: Vec::new(),
        }
    }
}

/// Declares a pallet's storage items as zero-sized types implementing [`Item`], with a
/// function listing their metadata entries.
macro_rules! storage {
    ($(mod $module:ident = $pallet:literal {
        $($name:ident: [$($hasher:ident $key:ty),*] => $value:ty, $default:tt;)*
    })*) => {
        $(
            #[allow(missing_docs)]
            pub mod $module {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[derive(Clone, Copy, Debug)]
                    pub struct $name;
                    impl $crate::storage::Item for $name {
                        const PALLET: &'static str = $pallet;
                        const NAME: &'static str = stringify!($name);
                        const HASHERS: &'static [$crate::storage::Hasher] = &[$($crate::storage::Hasher::$hasher),*];
                        type Key = ($($key,)*);
                        type Value = $value;
                        fn default_value() -> Option<$value> {
                            storage!(@default $default)
                        }
                    }
                )*
                /// The metadata entries of the pallet's items, in declaration order.
                pub fn entries() -> Vec<frame_metadata::v15::StorageEntryMetadata<scale_info::form::MetaForm>> {
                    vec![$(<$name as $crate::storage::Item>::metadata()),*]
                }
            }
        )*
    };
    (@default optional) => { None };
    (@default ($e:expr)) => { Some($e) };
}
pub(crate) use storage;

/// Raw storage: key bytes to SCALE value bytes.
#[derive(Clone, Default)]
pub struct State {
    map: imbl::OrdMap<Vec<u8>, Vec<u8>>,
}

impl State {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of `key`, as stored or as the item's default.
    pub fn get<I: Item>(&self, key: &I::Key) -> Option<I::Value> {
        match self.map.get(&I::key(key)) {
            Some(bytes) => I::Value::decode(&mut &bytes[..]).ok(),
            None => I::default_value(),
        }
    }

    /// The value of `key` for an item with a default (`ValueQuery`).
    pub fn value<I: Item>(&self, key: &I::Key) -> I::Value
    where
        I::Value: Default,
    {
        self.get::<I>(key).unwrap_or_default()
    }

    /// Whether `key` holds a stored value.
    pub fn contains<I: Item>(&self, key: &I::Key) -> bool {
        self.map.contains_key(&I::key(key))
    }

    /// Stores `value` at `key`.
    pub fn put<I: Item>(&mut self, key: &I::Key, value: &I::Value) {
        self.map.insert(I::key(key), value.encode());
    }

    /// Removes `key`.
    pub fn remove<I: Item>(&mut self, key: &I::Key) {
        self.map.remove(&I::key(key));
    }

    /// Changes the value at `key` in place (starting from its default).
    pub fn mutate<I: Item, R>(&mut self, key: &I::Key, change: impl FnOnce(&mut I::Value) -> R) -> R
    where
        I::Value: Default,
    {
        let mut value = self.value::<I>(key);
        let out = change(&mut value);
        self.put::<I>(key, &value);
        out
    }

    /// The raw value under a raw key.
    pub fn raw(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.map.get(key)
    }

    /// Stores a raw value.
    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.map.insert(key, value);
    }

    /// Up to `count` keys starting with `prefix` and greater than `start_after`, in order.
    pub fn keys_paged(&self, prefix: &[u8], count: usize, start_after: Option<&[u8]>) -> Vec<Vec<u8>> {
        let from = match start_after {
            Some(start) if start >= prefix => start.to_vec(),
            _ => prefix.to_vec(),
        };
        self.map
            .range(from.clone()..)
            .map(|(key, _)| key)
            .filter(|key| start_after.is_none_or(|start| key.as_slice() > start))
            .take_while(|key| key.starts_with(prefix))
            .take(count)
            .cloned()
            .collect()
    }

    /// Every key-value pair, for the state file.
    pub fn pairs(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.map.iter()
    }

    /// The number of stored keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
