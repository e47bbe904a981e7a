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

use crate::swarm::SYNAPSE_PROTOCOL;

/// An inbound stream and the peer that opened it.
pub(crate) type InboundStream = (PeerId, Stream);

/// The behaviour: one handler per connection, all feeding one queue.
pub(crate) struct Inbound {
    queue: mpsc::Sender<InboundStream>,
}

impl Inbound {
    /// A behaviour and the receiving end of its queue of `capacity` streams.
    pub(crate) fn new(capacity: usize) -> (Self, mpsc::Receiver<InboundStream>) {
        let (queue, receiver) = mpsc::channel(capacity.max(1));
        (Inbound { queue }, receiver)
    }

    fn handler(&self, peer: PeerId) -> InboundHandler {
        InboundHandler { peer, queue: self.queue.clone() }
    }
}

impl NetworkBehaviour for Inbound {
    type ConnectionHandler = InboundHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
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

    fn on_swarm_event(&mut self, _: FromSwarm) {}

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
