//! Dialing a target: resolving its address, one dial at a time per hotkey, and the first
//! stream's binding exchange.

use super::pool::{Connection, Slot, SlotState};
use super::{Dendrite, Target};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use neuronet_synapse::{Failure, Hotkey, Status};
use std::sync::Arc;

/// How a new connection's first stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FirstStream {
    /// A query waits: where the PeerId was known before the dial, its request follows the Bind
    /// frame at once (its answer is read only once the axon's binding is verified).
    Pipelined,
    /// Nothing waits to be sent ([`Dendrite::connect`]): the connection is ready once the
    /// axon's binding is verified, and a refusal is told to the caller.
    Verified,
}

/// The slot's connection, when it has a stream taking requests.
fn live(slot: &SlotState) -> Option<Arc<Connection>> {
    let current = slot.current.lock().ok()?;
    current.as_ref().filter(|conn| conn.pick().is_some()).cloned()
}

impl Dendrite {
    pub(super) async fn connection(&self, target: &Target, first: FirstStream) -> Result<Arc<Connection>, Failure> {
        let hotkey = *target.hotkey();
        let slot = {
            let mut connections =
                self.inner.connections.lock().map_err(|_| Failure::new(Status::InternalError, "lock poisoned"))?;
            connections.entry(*hotkey.public()).or_default().clone()
        };
        if let Some(conn) = live(&slot) {
            return Ok(conn);
        }
        // Boxed: (re)connecting is the rare path, and its state would otherwise size every
        // query's future, a thousand of which a forward holds at once.
        Box::pin(self.reconnect(target, slot, first)).await
    }

    /// (Re)connects `slot`: one dial at a time per target; whoever waited behind it reuses its
    /// result.
    async fn reconnect(&self, target: &Target, slot: Slot, first: FirstStream) -> Result<Arc<Connection>, Failure> {
        let hotkey = *target.hotkey();
        let _connecting = slot.connecting.lock().await;
        if let Some(conn) = live(&slot) {
            return Ok(conn);
        }
        let (addr, peer) = self.resolve(target)?;
        // Waiting for a dial slot is not part of the connect timeout; the query's own timeout
        // still bounds it.
        let _slot =
            self.inner.dials.acquire().await.map_err(|_| Failure::new(Status::Unavailable, "dendrite closed"))?;
        let dial = self.dial(hotkey, addr, peer, &slot, first);
        let conn = tokio::time::timeout(self.inner.config.connect_timeout, dial)
            .await
            .map_err(|_| Failure::new(Status::Timeout, format!("connecting to {hotkey} timed out")))??;
        if let Ok(mut current) = slot.current.lock() {
            *current = Some(conn.clone());
        }
        Ok(conn)
    }

    pub(super) fn resolve(&self, target: &Target) -> Result<(Multiaddr, Option<PeerId>), Failure> {
        let (addr, peer) = match target {
            Target::Explicit { addr, .. } => (addr.clone(), None),
            Target::Hotkey(hotkey) => {
                let entry =
                    self.inner.directory.get(hotkey).ok_or_else(|| {
                        Failure::new(Status::Unavailable, format!("{hotkey} is not in the directory"))
                    })?;
                let addr = entry
                    .addrs
                    .first()
                    .cloned()
                    .ok_or_else(|| Failure::new(Status::Unavailable, format!("{hotkey} has no address")))?;
                (addr, entry.peer_id)
            }
        };
        let from_addr = addr.iter().find_map(|p| match p {
            Protocol::P2p(peer) => Some(peer),
            _ => None,
        });
        Ok((addr, peer.or(from_addr)))
    }

    pub(super) async fn dial(
        &self,
        hotkey: Hotkey,
        addr: Multiaddr,
        peer: Option<PeerId>,
        slot: &Slot,
        first: FirstStream,
    ) -> Result<Arc<Connection>, Failure> {
        let peer_id = self
            .network(&hotkey)
            .dial(addr.clone(), peer)
            .await
            .map_err(|e| Failure::new(Status::Unavailable, format!("Service unavailable at {addr}: {e}")))?;
        // A PeerId known before the dial (from the directory, the address or an earlier
        // binding) was proven by the TLS handshake: the first request can follow the Bind frame
        // at once, saving the binding's round trip. Its answer is still only read once the
        // axon's binding is verified. An unknown PeerId waits for the binding first, so that
        // nothing but the Bind frame reaches a peer not yet known to hold the hotkey.
        let remembered = slot.proven.lock().ok().and_then(|p| *p);
        let pinned = peer.or(remembered) == Some(peer_id);
        let opened = match pinned && first == FirstStream::Pipelined {
            true => self.open_pipelined(peer_id, hotkey, slot.clone()).await,
            false => self.open_stream(peer_id, &hotkey).await,
        };
        let first = match opened {
            Ok(stream) => {
                if let Ok(mut proven) = slot.proven.lock() {
                    *proven = Some(peer_id);
                }
                stream
            }
            Err(refusal) => {
                if refusal.status == Status::Unauthorized {
                    self.network(&hotkey).disconnect(peer_id).await;
                }
                return Err(refusal);
            }
        };
        // Further pool streams open when requests start to queue (see `grow`), not now: a
        // connection that carries one request at a time needs one stream, and opening another
        // beside the first request (a Bind each way, two signature checks) delays its answer.
        let conn = Arc::new(Connection::new(hotkey, peer_id, first));
        Ok(conn)
    }
}
