//! The decisions an axon makes about a request's header, with no I/O: whether it may be taken
//! at all (receiver, binding, auth mode, sender), how long its caller waits, and how signature
//! batches are assembled from consecutive requests. Wires call these; tests call them without
//! sockets.

use crate::envelope::RequestHead;
use crate::nonce::NonceError;
use crate::proto::AuthMode;
use crate::{Failure, Hotkey, Status};
use std::time::Duration;

/// The checks on a request header that need no cryptography, in order: the receiver is this
/// axon (403), the connection is bound (`bound`: the hotkey its binding proved, and until when,
/// Unix seconds) and the binding has not expired (401), the axon accepts the header's auth mode
/// (`auth_accepted`, 401), and the sender is the bound hotkey (401).
pub fn precheck(
    head: &RequestHead,
    receiver: &Hotkey,
    bound: Option<(Hotkey, u64)>,
    now_secs: u64,
    auth_accepted: bool,
) -> Result<(), Failure> {
    if head.receiver != *receiver.public() {
        return Err(Failure::new(
            Status::Forbidden,
            format!("request is for another receiver, this axon is {receiver}"),
        ));
    }
    let (bound, expires_at) =
        bound.ok_or_else(|| Failure::new(Status::Unauthorized, "connection is not bound to a hotkey"))?;
    if expires_at <= now_secs {
        return Err(Failure::new(Status::Unauthorized, "the connection's binding has expired"));
    }
    if !auth_accepted {
        return Err(Failure::new(
            Status::Unauthorized,
            format!("this axon does not accept {:?} authentication", head.auth),
        ));
    }
    if head.sender != bound {
        return Err(Failure::new(
            Status::Unauthorized,
            format!("sender {} is not the connection's hotkey {bound}", head.sender),
        ));
    }
    Ok(())
}

/// How long a request's caller waits: what it asks for (`timeout_ms`), at most `max`; `default`
/// when it asks for 0.
pub fn timeout(timeout_ms: u32, default: Duration, max: Duration) -> Duration {
    match timeout_ms {
        0 => default,
        ms => Duration::from_millis(u64::from(ms)).min(max),
    }
}

impl NonceError {
    /// The status a request refused for this reason gets: 503 when the replay cache cannot take
    /// the nonce, 401 otherwise.
    pub fn status(&self) -> Status {
        match self {
            NonceError::Full { .. } => Status::Unavailable,
            NonceError::Stale { .. }
            | NonceError::Future { .. }
            | NonceError::Replayed
            | NonceError::Overtaken { .. } => Status::Unauthorized,
        }
    }
}

/// The message of the 401 for the members of a batch that did not complete.
pub const INCOMPLETE_BATCH: &str = "incomplete signature batch";

/// A batch's held members, refused together, and why.
#[derive(Debug)]
pub struct Broken<T> {
    /// The members received so far, in stream order.
    pub members: Vec<T>,
    /// Why they are refused.
    pub failure: Failure,
}

/// What becomes of a request whose body has been read ([`BatchAssembly::place`]).
#[derive(Debug)]
pub enum Placed<T> {
    /// Not a batch member: verify it alone.
    Lone(T),
    /// Held until the batch's last member arrives.
    Held,
    /// The last member arrived: the whole batch, in stream order, to verify once.
    Complete(Vec<T>),
    /// A member that does not fit the batch being assembled (a stray index): refused alone.
    Refused(T, Failure),
}

/// Assembles signature batches from the requests of one stream (section 3 of protocol.md):
/// members arrive consecutively with indices 0 to count-1; anything else breaks the batch, whose
/// held members are then refused with the member that broke it, and later members of a broken
/// batch are refused with the same failure. `T` is whatever the wire keeps per held request.
#[derive(Debug)]
pub struct BatchAssembly<T> {
    held: Vec<T>,
    held_bytes: usize,
    /// Why the batch being received was refused, for its later members.
    broken: Option<Failure>,
}

impl<T> Default for BatchAssembly<T> {
    fn default() -> Self {
        BatchAssembly { held: Vec::new(), held_bytes: 0, broken: None }
    }
}

impl<T> BatchAssembly<T> {
    /// An assembly holding nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether members are held (a stream waiting for a batch's next member has a deadline).
    pub fn is_holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// The batch position a request header claims: `(index, count)` for a per-request-signed
    /// batch member, `None` for anything else (connection-mode requests are never members).
    pub fn position(head: &RequestHead) -> Option<(u32, u32)> {
        head.batch.filter(|_| head.auth == AuthMode::PerRequest)
    }

    /// A header claiming `position` arrived with a body of `body_len` bytes, before the body is
    /// read. Returns the held members it breaks (if any), and whether its body may be read:
    /// `Err` refuses it (skip the body): a later member of a broken batch, or a batch over
    /// `max_bytes` in all (413).
    pub fn on_header(
        &mut self,
        position: Option<(u32, u32)>,
        body_len: usize,
        max_bytes: usize,
    ) -> (Option<Broken<T>>, Result<(), Failure>) {
        let continues = matches!(position, Some((index, _)) if index > 0 && index as usize == self.held.len());
        let mut broken = None;
        if !continues {
            // Anything but the next member ends the batch being received.
            broken = self.break_with(Failure::new(Status::Unauthorized, INCOMPLETE_BATCH));
            if position.is_none_or(|(index, _)| index == 0) {
                self.broken = None;
            }
        }
        if let Some(failure) = self.broken.clone().filter(|_| position.is_some_and(|(index, _)| index > 0)) {
            return (broken, Err(failure));
        }
        let held_bytes = if continues { self.held_bytes } else { 0 };
        if held_bytes.saturating_add(body_len) > max_bytes {
            let over = self
                .break_with(Failure::new(Status::PayloadTooLarge, "signature batch exceeds the request size limit"));
            let failure = Failure::new(
                Status::PayloadTooLarge,
                format!("signature batch exceeds the request size limit of {max_bytes}"),
            );
            return (broken.or(over), Err(failure));
        }
        (broken, Ok(()))
    }

    /// Places a request whose header [`on_header`](Self::on_header) let through and whose
    /// body (`body_len` bytes) has been read.
    pub fn place(&mut self, position: Option<(u32, u32)>, request: T, body_len: usize) -> Placed<T> {
        let Some((index, count)) = position else { return Placed::Lone(request) };
        if index as usize != self.held.len() {
            return Placed::Refused(request, Failure::new(Status::Unauthorized, INCOMPLETE_BATCH));
        }
        self.held_bytes = self.held_bytes.saturating_add(body_len);
        self.held.push(request);
        if index.saturating_add(1) == count {
            self.held_bytes = 0;
            return Placed::Complete(std::mem::take(&mut self.held));
        }
        Placed::Held
    }

    /// Breaks the batch being assembled with `failure` (a limit refused the member that should
    /// have joined it, or the stream ends): its held members, and its later members, are refused.
    pub fn break_with(&mut self, failure: Failure) -> Option<Broken<T>> {
        self.held_bytes = 0;
        if self.held.is_empty() {
            return None;
        }
        self.broken = Some(failure.clone());
        Some(Broken { members: std::mem::take(&mut self.held), failure })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CryptoType, Keypair};

    const MAX: usize = 1000;

    /// Feeds one header and body; returns the ids refused with the batch it broke, and this
    /// request's fate.
    fn feed(
        assembly: &mut BatchAssembly<u32>,
        id: u32,
        position: Option<(u32, u32)>,
        len: usize,
    ) -> (Vec<u32>, Result<Placed<u32>, Failure>) {
        let (broken, verdict) = assembly.on_header(position, len, MAX);
        let broken = broken.map(|b| b.members).unwrap_or_default();
        (broken, verdict.map(|()| assembly.place(position, id, len)))
    }

    #[test]
    fn consecutive_members_complete_a_batch() {
        let mut assembly = BatchAssembly::new();
        assert!(matches!(feed(&mut assembly, 1, Some((0, 3)), 10), (b, Ok(Placed::Held)) if b.is_empty()));
        assert!(matches!(feed(&mut assembly, 2, Some((1, 3)), 10), (b, Ok(Placed::Held)) if b.is_empty()));
        assert!(assembly.is_holding());
        let (broken, placed) = feed(&mut assembly, 3, Some((2, 3)), 10);
        assert!(broken.is_empty());
        assert!(matches!(placed, Ok(Placed::Complete(members)) if members == vec![1, 2, 3]));
        assert!(!assembly.is_holding());
        assert!(matches!(feed(&mut assembly, 4, None, 10), (b, Ok(Placed::Lone(4))) if b.is_empty()));
    }

    #[test]
    fn a_lone_request_amid_a_batch_breaks_it_and_its_later_members_are_refused() {
        let mut assembly = BatchAssembly::new();
        let _ = feed(&mut assembly, 1, Some((0, 3)), 10);
        let (broken, placed) = feed(&mut assembly, 2, None, 10);
        assert_eq!(broken, vec![1]);
        assert!(matches!(placed, Ok(Placed::Lone(2))));
        // Its later member no longer belongs to any batch: refused alone, 401 as well.
        let (broken, placed) = feed(&mut assembly, 3, Some((1, 3)), 10);
        assert!(broken.is_empty());
        let Ok(Placed::Refused(3, failure)) = placed else { panic!("the later member must be refused") };
        assert_eq!((failure.status, failure.message.as_str()), (Status::Unauthorized, INCOMPLETE_BATCH));
        // A new batch starts afresh.
        assert!(matches!(feed(&mut assembly, 4, Some((0, 2)), 10), (_, Ok(Placed::Held))));
        assert!(matches!(feed(&mut assembly, 5, Some((1, 2)), 10), (_, Ok(Placed::Complete(m))) if m == vec![4, 5]));
    }

    #[test]
    fn a_stray_member_is_refused_alone() {
        let mut assembly = BatchAssembly::new();
        let (broken, placed) = feed(&mut assembly, 1, Some((2, 3)), 10);
        assert!(broken.is_empty());
        assert!(matches!(placed, Ok(Placed::Refused(1, f)) if f.message == INCOMPLETE_BATCH));
    }

    #[test]
    fn a_batch_over_the_size_limit_is_413_with_its_held_members() {
        let mut assembly = BatchAssembly::new();
        let _ = feed(&mut assembly, 1, Some((0, 3)), 600);
        let (broken, placed) = feed(&mut assembly, 2, Some((1, 3)), 600);
        assert_eq!(broken, vec![1]);
        assert_eq!(placed.unwrap_err().status, Status::PayloadTooLarge);
        let (_, placed) = feed(&mut assembly, 3, Some((2, 3)), 10);
        assert_eq!(placed.unwrap_err().status, Status::PayloadTooLarge, "later members share the refusal");
    }

    #[test]
    fn a_member_refused_by_a_limit_breaks_the_batch_with_that_status() {
        let mut assembly = BatchAssembly::new();
        let _ = feed(&mut assembly, 1, Some((0, 2)), 10);
        let broken = assembly.break_with(Failure::new(Status::TooManyRequests, "rate limit exceeded")).unwrap();
        assert_eq!((broken.members, broken.failure.status), (vec![1], Status::TooManyRequests));
        let (_, placed) = feed(&mut assembly, 2, Some((1, 2)), 10);
        assert_eq!(placed.unwrap_err().status, Status::TooManyRequests);
    }

    #[test]
    fn prechecks_run_in_order() {
        let (alice, bob, charlie) = ["//Alice", "//Bob", "//Charlie"]
            .map(|s| Keypair::from_suri(s, CryptoType::Sr25519).unwrap().hotkey())
            .into();
        let head = RequestHead::new("Ping", alice, *bob.public(), 1000);
        let bound = Some((alice, 2000));
        assert_eq!(precheck(&head, &bob, bound, 1000, true), Ok(()));
        assert_eq!(precheck(&head, &charlie, bound, 1000, true).unwrap_err().status, Status::Forbidden);
        let unbound = precheck(&head, &bob, None, 1000, true).unwrap_err();
        assert!(unbound.message.contains("not bound"), "{}", unbound.message);
        let expired = precheck(&head, &bob, bound, 2000, true).unwrap_err();
        assert!(expired.message.contains("expired"), "{}", expired.message);
        let mode = precheck(&head, &bob, bound, 1000, false).unwrap_err();
        assert!(mode.message.contains("does not accept PerRequest"), "{}", mode.message);
        let other = precheck(&head, &bob, Some((charlie, 2000)), 1000, true).unwrap_err();
        assert!(other.message.contains("is not the connection's hotkey"), "{}", other.message);
    }

    #[test]
    fn timeouts_default_and_cap() {
        let (default, max) = (Duration::from_secs(12), Duration::from_secs(120));
        assert_eq!(timeout(0, default, max), default);
        assert_eq!(timeout(500, default, max), Duration::from_millis(500));
        assert_eq!(timeout(u32::MAX, default, max), max);
    }
}
