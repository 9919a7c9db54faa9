//! A clonable "stop now" signal, raised by Ctrl-C / SIGTERM in the binary and never in most tests.

use tokio::sync::watch;

/// Receiving side of the stop signal.
#[derive(Debug, Clone)]
pub struct StopSignal(watch::Receiver<bool>);

/// Raising side of the stop signal.
#[derive(Debug)]
pub struct StopHandle(watch::Sender<bool>);

impl StopHandle {
    /// Raises the signal for every clone of the receiver.
    pub fn stop(&self) {
        let _ = self.0.send(true);
    }
}

impl StopSignal {
    /// A linked pair.
    pub fn new() -> (StopHandle, StopSignal) {
        let (tx, rx) = watch::channel(false);
        (StopHandle(tx), StopSignal(rx))
    }

    /// A signal that is never raised.
    pub fn never() -> StopSignal {
        Self::new().1
    }

    /// A signal raised by the first Ctrl-C or SIGTERM. Must be called inside a Tokio runtime.
    pub fn on_ctrl_c_or_sigterm() -> StopSignal {
        let (handle, signal) = Self::new();
        tokio::spawn(async move {
            wait_for_signal().await;
            eprintln!("loadgen: interrupted, stopping and restoring what was changed (again to quit at once)");
            handle.stop();
            // The sender stays alive until here, so receivers keep seeing `true`. A second signal
            // gives up on the clean-up.
            wait_for_signal().await;
            eprintln!("loadgen: interrupted twice, quitting without clean-up");
            std::process::exit(130);
        });
        signal
    }

    /// Whether the signal has been raised.
    pub fn is_stopped(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the signal is raised; never, if its sender is gone without raising it.
    pub async fn stopped(&mut self) {
        if self.0.wait_for(|stopped| *stopped).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
