//! The HTTP side every provider simulator shares (Stripe's, PayPal's, Vipps's,
//! Buckaroo's gateway): binding on loopback only, and serving a router until
//! the simulator's shutdown flag is raised. Each simulator keeps its own state,
//! routes and deliveries; only this plumbing is common.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Why a simulator could not start.
#[derive(Debug)]
pub enum StartError {
    /// Only loopback addresses are allowed (nothing outside this machine talks to it).
    NotLoopback(SocketAddr),
    Bind(std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::NotLoopback(a) => write!(
                f,
                "the simulator listens on loopback addresses only, not {a}"
            ),
            StartError::Bind(e) => write!(f, "cannot listen: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// Binds `listen`, which must be a loopback address; the listener and the
/// address it got (port 0 picks a free one).
pub async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    if !listen.ip().is_loopback() {
        return Err(StartError::NotLoopback(listen));
    }
    let listener = TcpListener::bind(listen).await.map_err(StartError::Bind)?;
    let addr = listener.local_addr().map_err(StartError::Bind)?;
    Ok((listener, addr))
}

/// Serves `app` on `listener` on the current tokio runtime until `shutdown`
/// turns true, then finishes the requests in flight.
pub fn serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: &watch::Sender<bool>,
) -> JoinHandle<()> {
    let mut stop = shutdown.subscribe();
    tokio::spawn(async move {
        let _ = axum::serve(crate::http::nodelay(listener), app)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_an_address_other_machines_can_reach() {
        let addr: SocketAddr = "0.0.0.0:0".parse().unwrap();
        match bind(addr).await {
            Err(StartError::NotLoopback(a)) => assert_eq!(a, addr),
            other => panic!("expected NotLoopback, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn serves_until_the_shutdown_flag_is_raised() {
        let (listener, addr) = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "up" }));
        let (shutdown, _) = watch::channel(false);
        let server = serve(listener, app, &shutdown);
        let body = reqwest::get(format!("http://{addr}/"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "up");
        shutdown.send_replace(true);
        tokio::time::timeout(std::time::Duration::from_secs(5), server)
            .await
            .expect("the server stops once the flag is raised")
            .unwrap();
    }
}
