//! Status codes with Bittensor's meanings (they travel as the numbers HTTP uses), each with a
//! human message.

use std::fmt;

/// The outcome of a request, as axon and dendrite report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// 200: the handler answered.
    Success,
    /// 400: the request is malformed (bad header, undecodable body).
    BadRequest,
    /// 401: the request is not authenticated (bad signature, stale or replayed nonce, binding refused).
    Unauthorized,
    /// 403: the caller is blacklisted or the request is for another receiver.
    Forbidden,
    /// 404: the axon serves no synapse of that name.
    NotFound,
    /// 408: no answer within the request's timeout.
    Timeout,
    /// 413: the request or response is larger than allowed.
    PayloadTooLarge,
    /// 422: the answer could not be decoded as the synapse's response.
    Unprocessable,
    /// 429: the caller is over its rate limit.
    TooManyRequests,
    /// 500: the handler failed.
    InternalError,
    /// 503: the axon is unreachable, overloaded or its queue is full.
    Unavailable,
    /// Any other code a peer sent.
    Other(u16),
}

impl Status {
    /// The numeric code.
    pub fn code(self) -> u16 {
        match self {
            Status::Success => 200,
            Status::BadRequest => 400,
            Status::Unauthorized => 401,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::Timeout => 408,
            Status::PayloadTooLarge => 413,
            Status::Unprocessable => 422,
            Status::TooManyRequests => 429,
            Status::InternalError => 500,
            Status::Unavailable => 503,
            Status::Other(code) => code,
        }
    }

    /// The status for a numeric code.
    pub fn from_code(code: u32) -> Self {
        match code {
            200 => Status::Success,
            400 => Status::BadRequest,
            401 => Status::Unauthorized,
            403 => Status::Forbidden,
            404 => Status::NotFound,
            408 => Status::Timeout,
            413 => Status::PayloadTooLarge,
            422 => Status::Unprocessable,
            429 => Status::TooManyRequests,
            500 => Status::InternalError,
            503 => Status::Unavailable,
            other => Status::Other(u16::try_from(other).unwrap_or(u16::MAX)),
        }
    }

    /// A short human message, as Bittensor's `status_message` carries.
    pub fn message(self) -> &'static str {
        match self {
            Status::Success => "Success",
            Status::BadRequest => "Bad request",
            Status::Unauthorized => "Not verified",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Synapse not found",
            Status::Timeout => "Request timeout",
            Status::PayloadTooLarge => "Payload too large",
            Status::Unprocessable => "Failed to parse response",
            Status::TooManyRequests => "Too many requests",
            Status::InternalError => "Internal server error",
            Status::Unavailable => "Service unavailable",
            Status::Other(_) => "Unknown status",
        }
    }

    /// Whether this is 200.
    pub fn is_success(self) -> bool {
        self == Status::Success
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.message())
    }
}

/// Why a request failed, as its caller is told: a status and a message. Every refusal and
/// failure, at any stage and on any wire, takes this one shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The status.
    pub status: Status,
    /// What went wrong, for the caller.
    pub message: String,
}

impl Failure {
    /// A failure with `status` and `message`.
    pub fn new(status: Status, message: impl Into<String>) -> Self {
        Failure { status, message: message.into() }
    }
}

impl From<Status> for Failure {
    fn from(status: Status) -> Self {
        Failure { status, message: status.message().to_owned() }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.code(), self.message)
    }
}

impl std::error::Error for Failure {}
