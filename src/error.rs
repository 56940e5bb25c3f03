//! One error type for everything a user can cause or see, in the user's terms. The API turns
//! it into Backstage's error body and status (`api::errors`).

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    NotAllowed(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("An internal error occurred: {0}")]
    Internal(String),
}

impl Error {
    /// Backstage's error `name`, which clients test.
    pub fn name(&self) -> &'static str {
        match self {
            Error::Input(_) => "InputError",
            Error::NotFound(_) => "NotFoundError",
            Error::Conflict(_) => "ConflictError",
            Error::NotAllowed(_) => "NotAllowedError",
            Error::Unauthenticated(_) => "AuthenticationError",
            Error::Unavailable(_) => "ServiceUnavailableError",
            Error::Internal(_) => "Error",
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Error::Input(_) => 400,
            Error::Unauthenticated(_) => 401,
            Error::NotAllowed(_) => 403,
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Unavailable(_) => 503,
            Error::Internal(_) => 500,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
