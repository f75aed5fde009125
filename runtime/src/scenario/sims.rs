//! What a scenario's simulators of one provider have in common, whichever the
//! provider: one simulator per connection, their base URLs, waiting for their
//! webhook deliveries in flight, and finding the one a scenario event names.
//! Each provider's own start, events and expectations are in its module
//! (`stripe.rs`, `paypal.rs`), as inherent methods of its `SimSet`.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use crate::providers::buckaroo::gateway_sim::GatewaySim;
use crate::providers::paypal::sim::PayPalSim;
use crate::providers::stripe::sim::StripeSim;
use crate::providers::vipps::sim::VippsSim;

/// A provider simulator as the scenario runner uses it.
pub trait Simulator {
    /// Its base URL.
    fn url(&self) -> String;
    /// Waits, at most `timeout` in real time, for its webhook deliveries in flight.
    fn settle(&self, timeout: Duration) -> impl Future<Output = bool> + Send;
}

impl Simulator for StripeSim {
    fn url(&self) -> String {
        StripeSim::url(self)
    }
    fn settle(&self, timeout: Duration) -> impl Future<Output = bool> + Send {
        StripeSim::settle(self, timeout)
    }
}

impl Simulator for PayPalSim {
    fn url(&self) -> String {
        PayPalSim::url(self)
    }
    fn settle(&self, timeout: Duration) -> impl Future<Output = bool> + Send {
        PayPalSim::settle(self, timeout)
    }
}

impl Simulator for VippsSim {
    fn url(&self) -> String {
        VippsSim::url(self)
    }
    fn settle(&self, timeout: Duration) -> impl Future<Output = bool> + Send {
        VippsSim::settle(self, timeout)
    }
}

impl Simulator for GatewaySim {
    fn url(&self) -> String {
        GatewaySim::url(self)
    }
    fn settle(&self, timeout: Duration) -> impl Future<Output = bool> + Send {
        GatewaySim::settle(self, timeout)
    }
}

/// The simulators of one provider in a scenario, one per connection.
#[derive(Debug)]
pub struct SimSet<S> {
    /// The provider's title, for messages (`Stripe`, `PayPal`).
    title: &'static str,
    pub(super) sims: Vec<(&'static str, S)>,
    /// Whether any simulator delivers webhooks (then deliveries are awaited).
    webhooks: bool,
}

impl<S: Simulator> SimSet<S> {
    pub fn new(title: &'static str, sims: Vec<(&'static str, S)>, webhooks: bool) -> Self {
        SimSet {
            title,
            sims,
            webhooks,
        }
    }

    /// The base URL of each connection's simulator.
    pub fn urls(&self) -> HashMap<String, String> {
        self.sims
            .iter()
            .map(|(n, s)| (n.to_string(), s.url()))
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.sims.is_empty()
    }

    /// Waits (briefly, in real time) for webhook deliveries in flight, so that
    /// they land before the virtual clock moves on.
    pub async fn settle(&self) {
        if self.webhooks {
            for (_, s) in &self.sims {
                s.settle(Duration::from_secs(2)).await;
            }
        }
    }

    /// The simulator of `connection`, or the only one when none is named.
    pub fn sim(&self, connection: Option<&str>) -> Result<&S, String> {
        let title = self.title;
        match connection {
            Some(c) => self
                .sims
                .iter()
                .find(|(n, _)| *n == c)
                .map(|(_, s)| s)
                .ok_or_else(|| format!("the flow has no {title} connection `{c}`")),
            None => match self.sims.as_slice() {
                [(_, s)] => Ok(s),
                [] => Err(format!("the flow has no {title} connection")),
                _ => Err(format!(
                    "the flow has several {title} connections: say which with `connection`"
                )),
            },
        }
    }
}
