//! How an axon's QUIC identity is published on chain: the neuron certificate that
//! `serve_axon_tls` stores (an algorithm byte and up to 64 bytes of public key). A dendrite that
//! finds a neuronet certificate for a hotkey dials that hotkey's axon over QUIC with the PeerId
//! it names pinned; an axon without one speaks another wire.

use libp2p::identity::PublicKey;
use libp2p::PeerId;

/// The algorithm byte of a neuronet certificate (ASCII `N`): the public key that follows is the
/// axon's libp2p identity key in libp2p's protobuf encoding (36 bytes for ed25519).
pub const NEURONET_CERTIFICATE_ALGORITHM: u8 = 0x4e;

/// The longest public key the chain stores in a certificate.
pub const MAX_CERTIFICATE_KEY: usize = 64;

/// The certificate's public key for the identity `peer_id`, when the PeerId carries its key
/// (ed25519 identities, which neuronet's axons use, always do).
pub fn certificate_key(peer_id: &PeerId) -> Option<Vec<u8>> {
    let multihash = peer_id.as_ref();
    // Code 0 is the identity multihash: its digest is the protobuf-encoded public key.
    let key = (multihash.code() == 0).then(|| multihash.digest().to_vec())?;
    (key.len() <= MAX_CERTIFICATE_KEY && PublicKey::try_decode_protobuf(&key).is_ok()).then_some(key)
}

/// The PeerId a certificate names, or `None` when it is not a neuronet certificate (another
/// algorithm byte, or a key that does not decode).
pub fn peer_id_of_certificate(algorithm: u8, public_key: &[u8]) -> Option<PeerId> {
    if algorithm != NEURONET_CERTIFICATE_ALGORITHM || public_key.len() > MAX_CERTIFICATE_KEY {
        return None;
    }
    PublicKey::try_decode_protobuf(public_key).ok().map(|key| key.to_peer_id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_names_the_peer_id_it_was_made_from() {
        let identity = libp2p::identity::Keypair::generate_ed25519();
        let peer_id = identity.public().to_peer_id();
        let key = certificate_key(&peer_id).unwrap();
        assert_eq!(key.len(), 36);
        assert_eq!(peer_id_of_certificate(NEURONET_CERTIFICATE_ALGORITHM, &key), Some(peer_id));
        assert_eq!(peer_id_of_certificate(1, &key), None, "another algorithm is another wire");
        assert_eq!(peer_id_of_certificate(NEURONET_CERTIFICATE_ALGORITHM, &key[..35]), None);
        assert_eq!(peer_id_of_certificate(NEURONET_CERTIFICATE_ALGORITHM, &[0u8; 64]), None);
        assert_eq!(peer_id_of_certificate(NEURONET_CERTIFICATE_ALGORITHM, &[0u8; 65]), None);
    }
}
