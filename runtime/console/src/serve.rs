//! Serving the API on an address: the checks before binding (a token for
//! an address that is not loopback), the server's task, and the handle
//! that says where it listens and stops it.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Console;

/// Why the console could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// The address is not loopback and no token was set: the API would be
    /// open to the network with a token nobody configured.
    #[error(
        "refusing to serve the console on {addr} without a token: it is not a loopback address; set one with Console::token"
    )]
    TokenRequired {
        /// The address asked for.
        addr: SocketAddr,
    },

    /// The token cannot travel in a header or a cookie: it is empty, or has
    /// a space, a control character, or one of `;` `,` `"` `\`.
    #[error(
        "the console's token must be non-empty printable ASCII without spaces, `;`, `,`, `\"` or `\\`"
    )]
    InvalidToken,

    /// The address could not be resolved or bound.
    #[error("cannot bind the console to {addr}: {source}")]
    Bind {
        /// The address as it was given, or as it resolved.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The server stopped with an error.
    #[error("the console's server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A console being served: where it listens, and how to stop it.
///
/// Dropping it leaves the server running until the tokio runtime ends;
/// call [`shutdown`](ServingConsole::shutdown) to stop it.
#[derive(Debug)]
pub struct ServingConsole {
    addr: SocketAddr,
    url: String,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl ServingConsole {
    /// The address the server listens on (with the port the system chose
    /// for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The console's URL. When the token was made at random, it carries it
    /// (`?token=...`), so that opening it in a browser sets the cookie; a
    /// token that was set is not repeated.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Stops accepting connections, lets the requests in flight finish,
    /// and returns when the server has stopped.
    ///
    /// # Errors
    ///
    /// [`ConsoleError::Serve`] when the server had failed.
    pub async fn shutdown(self) -> Result<(), ConsoleError> {
        // The server may have stopped already; then nobody listens.
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => result.map_err(ConsoleError::Serve),
            Err(join) => Err(ConsoleError::Serve(std::io::Error::other(join))),
        }
    }
}

fn valid_token(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|byte| byte.is_ascii_graphic() && !b";,\"\\".contains(&byte))
}

/// [`Console::bind`].
pub(crate) async fn bind(
    console: Console,
    addr: impl tokio::net::ToSocketAddrs,
) -> Result<ServingConsole, ConsoleError> {
    if !valid_token(&console.token) {
        return Err(ConsoleError::InvalidToken);
    }
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|source| ConsoleError::Bind {
            addr: "the given address".into(),
            source,
        })?
        .collect();
    if !console.token_set
        && let Some(open) = addrs.iter().find(|addr| !addr.ip().is_loopback())
    {
        return Err(ConsoleError::TokenRequired { addr: *open });
    }
    let listener = TcpListener::bind(addrs.as_slice())
        .await
        .map_err(|source| ConsoleError::Bind {
            addr: display(&addrs),
            source,
        })?;
    let local = listener.local_addr().map_err(|source| ConsoleError::Bind {
        addr: display(&addrs),
        source,
    })?;
    let router = console.router_on(Some(local.ip()));
    let host = if local.ip().is_unspecified() {
        format!("localhost:{}", local.port())
    } else {
        local.to_string()
    };
    let url = if console.token_set {
        format!("http://{host}/")
    } else {
        format!("http://{host}/?token={}", console.token)
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                // A dropped handle leaves the server running: only a sent
                // stop ends it.
                if stopped.await.is_err() {
                    std::future::pending::<()>().await;
                }
            })
            .await
    });
    tracing::info!(%url, "durable console serving");
    if !console.token_set {
        eprintln!("durable console: {url}");
    }
    Ok(ServingConsole {
        addr: local,
        url,
        stop,
        task,
    })
}

fn display(addrs: &[SocketAddr]) -> String {
    let texts: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    texts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_must_travel_in_a_header_and_a_cookie() {
        assert!(valid_token("abc-123_XYZ.~"));
        for bad in ["", "a b", "a;b", "a,b", "a\"b", "a\\b", "é", "a\nb"] {
            assert!(!valid_token(bad), "{bad:?}");
        }
    }
}
