//! Inbound synapse streams for axons: a libp2p behaviour that hands every negotiated
//! `/neuronet/synapse/1` stream to the axon through a queue with real capacity. (libp2p-stream,
//! which the dendrite uses to open streams, queues one inbound stream and drops the rest of a
//! burst; an axon answering hundreds of validators cannot afford that.)
//!
//! It also decides which inbound connections an axon keeps: per-address and total limits, a
//! connection that has not bound a hotkey within `bind_timeout` is closed, and when the axon is
//! full a new connection takes the place of the oldest unbound one, so bound peers keep theirs.

use libp2p::core::upgrade::{DeniedUpgrade, ReadyUpgrade};
use libp2p::core::{transport::PortUse, Endpoint};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    CloseConnection, ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Stream};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

use crate::swarm::{ip_of, PeerEvents, Standing, SYNAPSE_PROTOCOL};
use libp2p::core::ConnectedPoint;
use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a connection was denied.
#[derive(Debug)]
enum TooManyConnections {
    /// Every connection the axon allows is open, none of them to spare for this peer.
    Total,
    /// The address (IPv6: its /64) has its share.
    Address(IpAddr),
    /// The network (IPv4 /24, IPv6 /48) has its share.
    Network(IpAddr),
}

impl std::fmt::Display for TooManyConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TooManyConnections::Total => f.write_str("too many connections, all of them bound"),
            TooManyConnections::Address(ip) => write!(f, "too many connections from {ip}"),
            TooManyConnections::Network(net) => write!(f, "too many connections from the network of {net}"),
        }
    }
}

impl std::error::Error for TooManyConnections {}

/// An inbound stream and the peer that opened it.
pub(crate) type InboundStream = (PeerId, Stream);

/// The behaviour: one handler per connection, all feeding one queue. It also enforces the
/// connection limits, denying connections before any stream can be opened on them, and closes
/// connections that do not bind in time.
pub(crate) struct Inbound {
    queue: mpsc::Sender<InboundStream>,
    limits: ConnectionLimits,
    per_ip: HashMap<IpAddr, u32>,
    per_network: HashMap<IpAddr, u32>,
    total: u32,
    /// Inbound connections by id: who, since when, and whether this behaviour is closing it.
    connections: HashMap<ConnectionId, Accepted>,
    /// Which peers have bound a hotkey (the axon's peer table).
    bindings: Option<Arc<dyn PeerEvents>>,
    /// Connections to close, for `poll`.
    closing: VecDeque<(PeerId, ConnectionId)>,
    waker: Option<std::task::Waker>,
    /// When to look for connections past `bind_timeout` again.
    sweep: tokio::time::Interval,
}

/// An inbound connection this behaviour accepted.
struct Accepted {
    peer: PeerId,
    since: Instant,
    /// Being closed by this behaviour: it no longer counts as room to make.
    evicted: bool,
    /// Seen bound by a sweep (a peer's binding lasts as long as its connections).
    bound: bool,
}

/// Inbound connection limits (0 = no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Per IP address (IPv6: per /64).
    pub(crate) per_ip: u32,
    /// Per network: IPv4 /24, IPv6 /48 (one site's allocation holds 65,536 /64s).
    pub(crate) per_network: u32,
    /// In all.
    pub(crate) total: u32,
    /// Time a connection has to bind a hotkey (on any of its streams) before it is closed.
    pub(crate) bind_timeout: Duration,
}

/// The key an address is limited under: the address for IPv4, its /64 for IPv6 (one host
/// usually holds a whole /64).
pub(crate) fn ip_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
    }
}

/// The key a network is limited under: IPv4 /24, IPv6 /48.
pub(crate) fn network_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & !0xff)),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 80) - 1))),
    }
}

impl Inbound {
    /// A behaviour and the receiving end of its queue of `capacity` streams, under `limits`;
    /// `bindings` tells which peers have bound a hotkey.
    pub(crate) fn new(
        capacity: usize,
        limits: ConnectionLimits,
        bindings: Option<Arc<dyn PeerEvents>>,
    ) -> (Self, mpsc::Receiver<InboundStream>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        let mut sweep = tokio::time::interval((limits.bind_timeout / 4).max(Duration::from_millis(50)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let inbound = Inbound {
            queue,
            limits,
            per_ip: HashMap::new(),
            per_network: HashMap::new(),
            total: 0,
            connections: HashMap::new(),
            bindings,
            closing: VecDeque::new(),
            waker: None,
            sweep,
        };
        (inbound, receiver)
    }

    fn standing(&self, peer: &PeerId) -> Standing {
        self.bindings.as_ref().map_or(Standing::Unbound, |b| b.standing(peer))
    }

    /// The connection to close to make room for a newcomer whose standing is at best `up_to`:
    /// the oldest unbound one, else (for a newcomer the Directory lists as registered by its
    /// PeerId) the oldest of a peer the metagraph does not list as registered. None when no
    /// connection stands below the newcomer.
    fn evictable(&self, up_to: Standing) -> Option<(ConnectionId, PeerId)> {
        self.connections
            .iter()
            .filter(|(_, c)| !c.evicted)
            .map(|(id, c)| (self.standing(&c.peer), c.since, *id, c.peer))
            .filter(|(standing, ..)| *standing < up_to)
            .min_by_key(|(standing, since, ..)| (*standing, *since))
            .map(|(_, _, id, peer)| (id, peer))
    }

    /// Whether a connection from `remote` may be accepted. When the axon is full, a newcomer
    /// (`Some` once its handshake proved its PeerId) takes the place of the oldest unbound
    /// connection, and a newcomer the Directory lists as registered that of the oldest peer it
    /// does not; otherwise it is denied. A pending handshake (`None`) only asks whether room could
    /// be made for a registered peer.
    fn check(&mut self, remote: &Multiaddr, newcomer: Option<PeerId>) -> Result<(), ConnectionDenied> {
        if let Some(ip) = ip_of(remote) {
            let (address, network) = (ip_key(ip), network_key(ip));
            let count = self.per_ip.get(&address).copied().unwrap_or(0);
            if self.limits.per_ip > 0 && count >= self.limits.per_ip {
                tracing::debug!(%address, count, "denying a connection over the per-IP limit");
                return Err(ConnectionDenied::new(TooManyConnections::Address(address)));
            }
            let count = self.per_network.get(&network).copied().unwrap_or(0);
            if self.limits.per_network > 0 && count >= self.limits.per_network {
                tracing::debug!(%network, count, "denying a connection over the per-network limit");
                return Err(ConnectionDenied::new(TooManyConnections::Network(network)));
            }
        }
        let evicted = self.connections.values().filter(|c| c.evicted).count() as u32;
        if self.limits.total > 0 && self.total.saturating_sub(evicted) >= self.limits.total {
            let up_to = match newcomer {
                Some(peer) if self.bindings.as_ref().is_some_and(|b| b.registered_peer(&peer)) => Standing::Registered,
                Some(_) => Standing::Bound,
                None => Standing::Registered,
            };
            let Some((id, peer)) = self.evictable(up_to) else {
                tracing::debug!(total = self.total, "denying a connection: the axon is full of bound peers");
                return Err(ConnectionDenied::new(TooManyConnections::Total));
            };
            if newcomer.is_some() {
                tracing::debug!(%peer, "closing an unbound connection to make room for a new one");
                self.close(id, peer);
            }
        }
        Ok(())
    }

    fn close(&mut self, id: ConnectionId, peer: PeerId) {
        if let Some(connection) = self.connections.get_mut(&id) {
            connection.evicted = true;
        }
        self.closing.push_back((peer, id));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Closes the connections that have not bound a hotkey within `bind_timeout`.
    fn close_unbound(&mut self) {
        let now = Instant::now();
        let bindings = self.bindings.clone();
        let mut late = Vec::new();
        for (id, connection) in self.connections.iter_mut() {
            if connection.evicted || connection.bound || now.duration_since(connection.since) < self.limits.bind_timeout
            {
                continue;
            }
            connection.bound = bindings.as_ref().is_some_and(|b| b.standing(&connection.peer) > Standing::Unbound);
            if !connection.bound {
                late.push((*id, connection.peer));
            }
        }
        for (id, peer) in late {
            tracing::debug!(%peer, "closing a connection that bound no hotkey in time");
            self.close(id, peer);
        }
    }

    fn handler(&self, peer: PeerId) -> InboundHandler {
        InboundHandler { peer, queue: self.queue.clone() }
    }
}

impl NetworkBehaviour for Inbound {
    type ConnectionHandler = InboundHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        _: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.check(remote, None)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Checked again: several handshakes from one address may have been pending at once.
        self.check(remote, Some(peer))?;
        self.connections.insert(id, Accepted { peer, since: Instant::now(), evicted: false, bound: false });
        Ok(self.handler(peer))
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler(peer))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        let (endpoint, opened) = match event {
            FromSwarm::ConnectionEstablished(e) => (e.endpoint, true),
            FromSwarm::ConnectionClosed(e) => {
                self.connections.remove(&e.connection_id);
                (e.endpoint, false)
            }
            _ => return,
        };
        let ConnectedPoint::Listener { send_back_addr, .. } = endpoint else { return };
        if opened {
            self.total += 1;
        } else {
            self.total = self.total.saturating_sub(1);
        }
        let Some(ip) = ip_of(send_back_addr) else { return };
        for (counts, key) in [(&mut self.per_ip, ip_key(ip)), (&mut self.per_network, network_key(ip))] {
            let count = counts.entry(key).or_insert(0);
            if opened {
                *count += 1;
            } else {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&key);
                }
            }
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        while self.sweep.poll_tick(cx).is_ready() {
            self.close_unbound();
        }
        if let Some((peer_id, id)) = self.closing.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection { peer_id, connection: CloseConnection::One(id) });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Accepts `/neuronet/synapse/1` on one connection; opens nothing.
pub(crate) struct InboundHandler {
    peer: PeerId,
    queue: mpsc::Sender<InboundStream>,
}

impl ConnectionHandler for InboundHandler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Infallible;
    type InboundProtocol = ReadyUpgrade<libp2p::StreamProtocol>;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(SYNAPSE_PROTOCOL), ())
    }

    fn poll(
        &mut self,
        _: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        Poll::Pending
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(&mut self, event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound { protocol: stream, .. }) = event {
            if self.queue.try_send((self.peer, stream)).is_err() {
                // Over the configured backlog: refusing this stream is the limit doing its job.
                tracing::debug!(peer = %self.peer, "inbound stream queue full or closed, dropping a stream");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn addresses_are_limited_per_ipv4_address_and_per_ipv6_64() {
        assert_eq!(ip_key(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(ip_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(ip_key(ip("2001:db8:1:2:ffff::1")), ip_key(ip("2001:db8:1:2::9")));
        assert_ne!(ip_key(ip("2001:db8:1:2::1")), ip_key(ip("2001:db8:1:3::1")));
    }

    #[test]
    fn networks_are_limited_per_ipv4_24_and_per_ipv6_48() {
        assert_eq!(network_key(ip("192.0.2.7")), ip("192.0.2.0"));
        assert_eq!(network_key(ip("192.0.2.7")), network_key(ip("192.0.2.250")));
        assert_ne!(network_key(ip("192.0.2.7")), network_key(ip("192.0.3.7")));
        assert_eq!(network_key(ip("2001:db8:1:ffff::1")), ip("2001:db8:1::"));
        assert_ne!(network_key(ip("2001:db8:1::1")), network_key(ip("2001:db8:2::1")));
    }
}
