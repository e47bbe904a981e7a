//! The `Synapse` trait: a named request/response pair of protobuf messages, unary or streaming,
//! and the `synapse!` macro that declares one in a line.

use serde::{de::DeserializeOwned, Serialize};

/// Whether a synapse answers once or with a stream of messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynapseKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of `Response` chunks ended by the axon.
    Streaming,
}

/// Bounds every synapse message meets: protobuf on the QUIC wire, JSON on the HTTP wires.
pub trait SynapseMessage:
    prost::Message + Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
}
impl<T> SynapseMessage for T where
    T: prost::Message + Default + Clone + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

/// A typed request/response exchange between a dendrite and an axon.
///
/// Declare one with [`synapse!`](crate::synapse!):
/// ```
/// use neuronet_synapse::{synapse, Synapse, SynapseKind};
///
/// #[derive(Clone, PartialEq, prost::Message, serde::Serialize, serde::Deserialize)]
/// pub struct EchoRequest {
///     #[prost(string, tag = "1")]
///     pub text: String,
/// }
///
/// synapse! {
///     /// Echoes its text back.
///     pub struct Echo: EchoRequest => EchoRequest;
/// }
///
/// assert_eq!(Echo::NAME, "Echo");
/// assert_eq!(Echo::KIND, SynapseKind::Unary);
/// ```
pub trait Synapse: Send + Sync + 'static {
    /// The unique name the synapse is routed by (the v10 HTTP path, the QUIC header field).
    const NAME: &'static str;
    /// Unary or streaming.
    const KIND: SynapseKind;
    /// What the dendrite sends.
    type Request: SynapseMessage;
    /// What the axon answers; for a streaming synapse, the type of each chunk.
    type Response: SynapseMessage;
    /// The fields a bittensor 10 caller's body hash covers, as the synapse's Python class
    /// declares them in `required_hash_fields` (none by default).
    const REQUIRED_HASH_FIELDS: &'static [&'static str] = &[];
}

/// Declares a synapse type: `pub struct Name: Request => Response;` for a unary synapse,
/// `pub struct Name: Request => stream Chunk;` for a streaming one. The wire name (and the
/// Python class name on the bittensor 10 wire) is the struct name unless given with
/// `#[name = "Other"]` before the struct; `#[hash_fields("a", "b")]` after it declares the
/// Python class's `required_hash_fields`.
#[macro_export]
macro_rules! synapse {
    ($(#[doc = $doc:expr])* $(#[name = $wire:literal])? $(#[hash_fields($($field:literal),* $(,)?)])? $vis:vis struct $name:ident : $req:ty => stream $resp:ty; $($rest:tt)*) => {
        $crate::synapse!(@define [$(#[doc = $doc])*] [$($wire)?] [$($($field),*)?] $vis $name, $req, $resp, $crate::SynapseKind::Streaming);
        $crate::synapse!($($rest)*);
    };
    ($(#[doc = $doc:expr])* $(#[name = $wire:literal])? $(#[hash_fields($($field:literal),* $(,)?)])? $vis:vis struct $name:ident : $req:ty => $resp:ty; $($rest:tt)*) => {
        $crate::synapse!(@define [$(#[doc = $doc])*] [$($wire)?] [$($($field),*)?] $vis $name, $req, $resp, $crate::SynapseKind::Unary);
        $crate::synapse!($($rest)*);
    };
    () => {};
    (@define [$(#[doc = $doc:expr])*] [$($wire:literal)?] [$($field:literal),*] $vis:vis $name:ident, $req:ty, $resp:ty, $kind:expr) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, Default)]
        $vis struct $name;
        impl $crate::Synapse for $name {
            const NAME: &'static str = $crate::synapse!(@name $name $($wire)?);
            const KIND: $crate::SynapseKind = $kind;
            type Request = $req;
            type Response = $resp;
            const REQUIRED_HASH_FIELDS: &'static [&'static str] = &[$($field),*];
        }
    };
    (@name $name:ident) => { stringify!($name) };
    (@name $name:ident $wire:literal) => { $wire };
}

/// The synapses every neuronet node understands.
pub mod builtin {
    use crate::proto;

    crate::synapse! {
        /// Liveness and latency probe.
        pub struct Ping: proto::PingRequest => proto::PingResponse;
        /// Text completion or chat, answered whole.
        pub struct TextGeneration: proto::TextGenerationRequest => proto::TextGenerationResponse;
        /// Text completion or chat, answered as a stream of chunks.
        pub struct TextGenerationStream: proto::TextGenerationRequest => stream proto::TextGenerationChunk;
        /// Sentence embeddings.
        pub struct Embedding: proto::EmbeddingRequest => proto::EmbeddingResponse;
        /// What the miner serves: models, device, limits.
        pub struct Capabilities: proto::CapabilitiesRequest => proto::CapabilitiesResponse;
    }
}
