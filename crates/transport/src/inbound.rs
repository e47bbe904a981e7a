//! Inbound synapse streams for axons: a libp2p behaviour that hands every negotiated
//! `/neuronet/synapse/1` stream to the axon through a queue with real capacity. (libp2p-stream,
//! which the dendrite uses to open streams, queues one inbound stream and drops the rest of a
//! burst; an axon answering hundreds of validators cannot afford that.)

use libp2p::core::upgrade::{DeniedUpgrade, ReadyUpgrade};
use libp2p::core::{transport::PortUse, Endpoint};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
    SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, Stream};
use std::convert::Infallible;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

use crate::swarm::{ip_of, SYNAPSE_PROTOCOL};
use libp2p::core::ConnectedPoint;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};

/// Why a connection was denied.
#[derive(Debug)]
struct TooManyConnections(Option<IpAddr>);

impl std::fmt::Display for TooManyConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(ip) => write!(f, "too many connections from {ip}"),
            None => f.write_str("too many connections"),
        }
    }
}

impl std::error::Error for TooManyConnections {}

/// An inbound stream and the peer that opened it.
pub(crate) type InboundStream = (PeerId, Stream);

/// The behaviour: one handler per connection, all feeding one queue. It also enforces the
/// per-IP connection limit, denying connections before any stream can be opened on them.
pub(crate) struct Inbound {
    queue: mpsc::Sender<InboundStream>,
    limits: ConnectionLimits,
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
}

/// Inbound connection limits (0 = no limit).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Per IP address (IPv6: per /64).
    pub(crate) per_ip: u32,
    /// In all.
    pub(crate) total: u32,
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

impl Inbound {
    /// A behaviour and the receiving end of its queue of `capacity` streams, allowing at most
    /// `max_per_ip` connections per address (0 = no limit).
    pub(crate) fn new(capacity: usize, limits: ConnectionLimits) -> (Self, mpsc::Receiver<InboundStream>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        (Inbound { queue, limits, per_ip: HashMap::new(), total: 0 }, receiver)
    }

    fn check_ip(&self, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        if self.limits.total > 0 && self.total >= self.limits.total {
            tracing::debug!(total = self.total, "denying a connection over the total limit");
            return Err(ConnectionDenied::new(TooManyConnections(None)));
        }
        let Some(ip) = ip_of(remote).map(ip_key) else { return Ok(()) };
        let count = self.per_ip.get(&ip).copied().unwrap_or(0);
        if self.limits.per_ip > 0 && count >= self.limits.per_ip {
            tracing::debug!(%ip, count, "denying a connection over the per-IP limit");
            return Err(ConnectionDenied::new(TooManyConnections(Some(ip))));
        }
        Ok(())
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
        self.check_ip(remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        // Checked again: several handshakes from one address may have been pending at once.
        self.check_ip(remote)?;
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
        let (endpoint, delta) = match event {
            FromSwarm::ConnectionEstablished(e) => (e.endpoint, 1i64),
            FromSwarm::ConnectionClosed(e) => (e.endpoint, -1),
            _ => return,
        };
        let ConnectedPoint::Listener { send_back_addr, .. } = endpoint else { return };
        if delta > 0 {
            self.total += 1;
        } else {
            self.total = self.total.saturating_sub(1);
        }
        let Some(ip) = ip_of(send_back_addr).map(ip_key) else { return };
        let count = self.per_ip.entry(ip).or_insert(0);
        if delta > 0 {
            *count += 1;
        } else {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    fn on_connection_handler_event(&mut self, _: PeerId, _: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
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
