//! The dendrite's hotkey binding: signing it, renewing it on open connections before it
//! expires, and verifying the binding an axon answers with.

use super::pool::{Connection, StreamReader};
use super::reader::rest_of_frame;
use super::Dendrite;
use crate::io::{read_bytes, read_prefix, skip};
use libp2p::PeerId;
use neuronet_synapse::binding::{sign_binding, verify_binding};
use neuronet_synapse::envelope::ResponseHead;
use neuronet_synapse::frame::FrameKind;
use neuronet_synapse::payload::unix_nanos;
use neuronet_synapse::proto::HotkeyBinding;
use neuronet_synapse::{Failure, Hotkey, Status};
use prost::Message;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

impl Dendrite {
    /// The binding to present, re-signed once it is due for renewal (see [`renewal`]), so that
    /// a stream opened to renew a connection's binding carries a fresh one.
    pub(super) fn binding(&self) -> HotkeyBinding {
        let mut binding = self.inner.binding.lock().unwrap_or_else(|p| p.into_inner());
        let now = unix_nanos();
        if renewal(binding.expires_at, now, self.renewal_margin()) != Renewal::Fresh {
            let expires_at = expiry_after(now, self.inner.config.binding_ttl);
            *binding = sign_binding(&self.inner.keypair, &binding.peer_id, expires_at);
        }
        binding.clone()
    }

    pub(super) fn renewal_margin(&self) -> Duration {
        renewal_margin(self.inner.config.binding_ttl, self.inner.config.connect_timeout)
    }

    /// Keeps the connection's binding alive: a binding due for renewal is renewed in the
    /// background while requests go on over the current streams; one about to expire is
    /// renewed before this request is sent, which would otherwise be refused (401).
    pub(super) async fn keep_bound(&self, conn: &Arc<Connection>) -> Result<(), Failure> {
        let bound_until = conn.bound_until.load(Ordering::Acquire);
        match renewal(bound_until, unix_nanos(), self.renewal_margin()) {
            Renewal::Fresh => Ok(()),
            Renewal::Due => {
                self.renew_in_background(conn);
                Ok(())
            }
            // Boxed: the renewal's stream opening would otherwise take 1.4 KB in every query's
            // future, a thousand of which a forward holds at once.
            Renewal::Urgent => {
                Box::pin(async {
                    tokio::time::timeout(self.inner.config.connect_timeout, self.renew(conn)).await.map_err(|_| {
                        Failure::new(Status::Timeout, format!("renewing the binding to {} timed out", conn.hotkey))
                    })?
                })
                .await
            }
        }
    }

    pub(super) fn renew_in_background(&self, conn: &Arc<Connection>) {
        if conn.renewal_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        let conn = conn.clone();
        tokio::spawn(async move {
            let timeout = this.inner.config.connect_timeout;
            let backoff = this.inner.config.stream_open_backoff;
            let renewed = tokio::time::timeout(timeout, this.renew(&conn)).await;
            drop(this);
            if !matches!(renewed, Ok(Ok(()))) {
                tracing::debug!(peer_id = %conn.peer_id, "renewing the connection's binding failed");
                tokio::time::sleep(backoff).await;
            }
            conn.renewal_started.store(false, Ordering::Release);
        });
    }

    /// Renews the connection's binding: opens a stream with a freshly signed Bind frame, which
    /// takes the others' place (they close once their requests are done).
    pub(super) async fn renew(&self, conn: &Arc<Connection>) -> Result<(), Failure> {
        let _one = conn.renewing.lock().await;
        let bound_until = conn.bound_until.load(Ordering::Acquire);
        if renewal(bound_until, unix_nanos(), self.renewal_margin()) == Renewal::Fresh {
            // Renewed while this call waited.
            return Ok(());
        }
        let stream = self.open_stream(conn.peer_id, &conn.hotkey).await?;
        tracing::debug!(peer_id = %conn.peer_id, bound_until = stream.bound_until, "binding renewed");
        conn.renew_with(stream);
        Ok(())
    }
}

/// Reads the axon's answer to a Bind frame: its own binding, which must prove `expected` for
/// `peer_id`, or a refusal.
pub(super) async fn read_binding_answer(
    reader: &mut StreamReader,
    peer_id: PeerId,
    expected: &Hotkey,
    frame_timeout: Duration,
) -> Result<(), Failure> {
    let io_err =
        |e: std::io::Error| Failure::new(Status::Unavailable, format!("binding exchange with {expected}: {e}"));
    let prefix = read_prefix(reader)
        .await
        .map_err(io_err)?
        .ok_or(Failure::new(Status::Unavailable, "axon closed the stream"))?;
    let rest = async {
        let header = read_bytes(reader, usize::from(prefix.header_len)).await?;
        skip(reader, u64::from(prefix.body_len)).await?;
        Ok(header)
    };
    let header = rest_of_frame(&prefix, frame_timeout, rest).await.map_err(io_err)?;
    match prefix.kind {
        FrameKind::Bind => {
            let record = HotkeyBinding::decode(header).map_err(|e| {
                Failure::new(Status::Unauthorized, format!("binding refused: axon's binding does not decode: {e}"))
            })?;
            let proven = verify_binding(&record, &peer_id.to_bytes(), unix_nanos() / 1_000_000_000)
                .map_err(|e| Failure::new(Status::Unauthorized, format!("binding refused: {e}")))?;
            if proven != *expected {
                tracing::warn!(%peer_id, expected = %expected, found = %proven, "axon holds another hotkey");
                return Err(Failure::new(
                    Status::Unauthorized,
                    format!("binding refused: axon holds hotkey {proven}, expected {expected}"),
                ));
            }
            Ok(())
        }
        FrameKind::Response => {
            // Refused: keep the axon's status when it is a refusal, but never let an answer
            // without a binding pass for anything else.
            let head = ResponseHead::decode(&header)
                .map_err(|e| Failure::new(Status::Unauthorized, format!("binding refused: undecodable answer: {e}")))?;
            let status = match head.status {
                Status::TooManyRequests | Status::Forbidden | Status::Unavailable => head.status,
                _ => Status::Unauthorized,
            };
            Err(Failure::new(status, head.message))
        }
        _ => Err(Failure::new(Status::Unauthorized, "binding refused: unexpected frame")),
    }
}

/// How long before its binding expires a connection renews it: a tenth of the binding's
/// lifetime, but at least the time a stream may take to open (`connect_timeout`), and at most
/// half the lifetime (so that a fresh binding is not due at once). For the default 24 h
/// binding: 2.4 h.
pub(super) fn renewal_margin(ttl: Duration, connect_timeout: Duration) -> Duration {
    (ttl / 10).max(connect_timeout).min(ttl / 2)
}

/// Where a binding stands, for the connections that carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Renewal {
    /// More than the renewal margin left.
    Fresh,
    /// Within the margin: renew while requests go on over the current streams.
    Due,
    /// Within half the margin, or expired: renew before sending more, which the axon would
    /// otherwise refuse once the binding expires.
    Urgent,
}

/// Where a binding expiring at `expires_at` (Unix seconds) stands at `now_nanos`.
pub(super) fn renewal(expires_at: u64, now_nanos: u64, margin: Duration) -> Renewal {
    let left = (u128::from(expires_at) * 1_000_000_000).saturating_sub(u128::from(now_nanos));
    let left = Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX));
    if left > margin {
        Renewal::Fresh
    } else if left > margin / 2 {
        Renewal::Due
    } else {
        Renewal::Urgent
    }
}

/// The expiry (Unix seconds) of a binding signed at `now_nanos` for `ttl`, rounded up so that
/// it lasts at least `ttl`.
pub(super) fn expiry_after(now_nanos: u64, ttl: Duration) -> u64 {
    let expires = (u128::from(now_nanos) + ttl.as_nanos()).div_ceil(1_000_000_000);
    u64::try_from(expires).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DendriteConfig;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn the_default_binding_is_renewed_with_a_tenth_of_its_lifetime_left() {
        let config = DendriteConfig::default();
        let margin = renewal_margin(config.binding_ttl, config.connect_timeout);
        assert_eq!(margin, Duration::from_secs(24 * 360));
        let now = 1_700_000_000 * SECOND;
        let expires_at = expiry_after(now, config.binding_ttl);
        assert_eq!(expires_at, 1_700_000_000 + 24 * 3600);
        assert_eq!(renewal(expires_at, now, margin), Renewal::Fresh);
        let due = now + (24 * 3600 - 24 * 360 + 1) * SECOND;
        assert_eq!(renewal(expires_at, due, margin), Renewal::Due);
        let urgent = now + (24 * 3600 - 24 * 180) * SECOND;
        assert_eq!(renewal(expires_at, urgent, margin), Renewal::Urgent);
        assert_eq!(renewal(expires_at, now + 48 * 3600 * SECOND, margin), Renewal::Urgent);
    }

    #[test]
    fn a_short_binding_is_renewed_in_time_but_not_at_once() {
        // 2 s: the margin is capped at half the lifetime, and the expiry is rounded up, so a
        // binding signed at any moment lasts 2 s and is fresh for at least 1 s of it.
        let ttl = Duration::from_secs(2);
        let margin = renewal_margin(ttl, Duration::from_secs(5));
        assert_eq!(margin, Duration::from_secs(1));
        for fraction in [0, 1, SECOND / 2, SECOND - 1] {
            let now = 1_700_000_000 * SECOND + fraction;
            let expires_at = expiry_after(now, ttl);
            assert!(u128::from(expires_at) * 1_000_000_000 >= u128::from(now) + ttl.as_nanos());
            assert_eq!(renewal(expires_at, now, margin), Renewal::Fresh);
            assert_eq!(renewal(expires_at, now + SECOND - 1, margin), Renewal::Fresh);
            assert_eq!(renewal(expires_at, expires_at * SECOND - SECOND * 3 / 4, margin), Renewal::Due);
            assert_eq!(renewal(expires_at, expires_at * SECOND - SECOND / 4, margin), Renewal::Urgent);
        }
    }

    #[test]
    fn expiry_saturates_instead_of_overflowing() {
        assert_eq!(expiry_after(u64::MAX, Duration::MAX), u64::MAX);
        assert_eq!(renewal(u64::MAX, 0, Duration::from_secs(1)), Renewal::Fresh);
        assert_eq!(renewal(0, u64::MAX, Duration::from_secs(1)), Renewal::Urgent);
    }
}
