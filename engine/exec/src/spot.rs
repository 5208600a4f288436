//! Spot-interruption notices: polling a cloud metadata endpoint. (SIGTERM, the other
//! notice, is caught by the CLI.) The base URL is configurable so that tests serve the
//! notice on loopback.

use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use crate::scheduler::Control;

/// Which metadata service announces interruptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// `GET {base}/latest/meta-data/spot/instance-action`: 404 normally, 200 with the action
    /// when the instance is about to stop (two minutes' notice).
    Aws,
    /// `GET {base}/computeMetadata/v1/instance/preempted` with `Metadata-Flavor: Google`:
    /// `TRUE` once preempted (thirty seconds' notice).
    Gcp,
}

impl Provider {
    pub fn default_base(self) -> &'static str {
        match self {
            Provider::Aws => "http://169.254.169.254",
            Provider::Gcp => "http://metadata.google.internal",
        }
    }

    fn url(self, base: &str) -> String {
        let base = base.trim_end_matches('/');
        match self {
            Provider::Aws => format!("{base}/latest/meta-data/spot/instance-action"),
            Provider::Gcp => format!("{base}/computeMetadata/v1/instance/preempted"),
        }
    }
}

/// Polls until a notice arrives, then sends one [`Control::Notice`] and returns.
pub async fn poll_metadata(
    provider: Provider,
    base: String,
    interval: Duration,
    window: Duration,
    tx: UnboundedSender<Control>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!("cannot poll the metadata service: {e}");
            return;
        }
    };
    let url = provider.url(&base);
    loop {
        let mut req = client.get(&url);
        if provider == Provider::Gcp {
            req = req.header("Metadata-Flavor", "Google");
        }
        match req.send().await {
            Ok(resp) if resp.status().is_success() => {
                let body = resp.text().await.unwrap_or_default();
                let noticed = match provider {
                    Provider::Aws => true,
                    Provider::Gcp => body.trim().eq_ignore_ascii_case("true"),
                };
                if noticed {
                    tracing::warn!(%url, body = body.trim(), "spot interruption notice");
                    let _ = tx.send(Control::Notice { window });
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(%url, "metadata poll: {e}"),
        }
        tokio::time::sleep(interval).await;
    }
}
