//! The run's budget (`budget_usd`, `run --budget`): before each request the engine reserves
//! its estimated worst cost, and refuses the request when what was spent, plus what requests
//! in flight may still cost, plus this estimate would exceed the budget. When the request
//! ends its reservation is replaced by what it really cost. A comparison has a budget of its
//! own, counted the same way (what its upstream runs spent included).

use std::sync::Mutex;

use super::error::ProviderError;
use crate::model::catalog::ProviderInfo;
use crate::model::prices::{Estimate, request_estimate, usd};
use crate::model::runs::ErrorClass;

/// Money spent and reserved in one run, against an optional limit.
#[derive(Debug, Default)]
pub(super) struct Budget {
    limit: Option<f64>,
    /// What spends it, as messages name it: `run` or `comparison`.
    spender: &'static str,
    ledger: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    spent: f64,
    reserved: f64,
}

/// The worst cost reserved for one request in flight.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Reservation(f64);

impl Budget {
    /// A budget of `limit` USD (`None`: no limit, nothing is refused).
    pub(super) fn new(limit: Option<f64>) -> Budget {
        Budget {
            limit,
            spender: "run",
            ledger: Mutex::default(),
        }
    }

    /// A comparison's budget of `limit` USD (`None`: no limit).
    pub(super) fn for_comparison(limit: Option<f64>) -> Budget {
        Budget {
            spender: "comparison",
            ..Budget::new(limit)
        }
    }

    /// What is left to spend, counting requests in flight at their worst (`None`: no limit).
    pub(super) fn remaining(&self) -> Option<f64> {
        let ledger = self.ledger();
        self.limit
            .map(|limit| (limit - ledger.spent - ledger.reserved).max(0.0))
    }

    /// Counts `usd` spent outside a reservation (by a run made on this budget's behalf).
    pub(super) fn spend(&self, usd: f64) {
        self.ledger().spent += usd;
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves the estimate of a request to `provider`/`model`, or says why it may not be
    /// sent: its estimate would exceed the budget, or its price is unknown.
    pub(super) fn reserve(
        &self,
        provider: &ProviderInfo,
        model: &str,
        system: Option<&str>,
        prompt: &str,
        max_tokens: Option<u32>,
    ) -> Result<Reservation, ProviderError> {
        let Some(limit) = self.limit else {
            return Ok(Reservation::default());
        };
        let Some((estimate, _)) = request_estimate(provider, model, system, prompt, max_tokens) else {
            return Err(ProviderError::new(
                ErrorClass::Budget,
                format!(
                    "not sent: the {} has a budget of {} but no price is known for {}/{model}: \
                     set it under [providers.{}.prices] in stepwise.toml",
                    self.spender,
                    usd(limit),
                    provider.id,
                    provider.id
                ),
            ));
        };
        let mut ledger = self.ledger();
        let worst = estimate.worst();
        if ledger.spent + ledger.reserved + worst > limit {
            return Err(over_budget(
                self.spender,
                limit,
                ledger.spent,
                ledger.reserved,
                &estimate,
            ));
        }
        ledger.reserved += worst;
        Ok(Reservation(worst))
    }

    /// Ends a reservation: the request cost `spent` USD.
    pub(super) fn settle(&self, reservation: Reservation, spent: f64) {
        let mut ledger = self.ledger();
        ledger.reserved = (ledger.reserved - reservation.0).max(0.0);
        ledger.spent += spent;
    }
}

fn over_budget(spender: &str, limit: f64, spent: f64, reserved: f64, estimate: &Estimate) -> ProviderError {
    let in_flight = if reserved > 0.0 {
        format!(" and up to {} in flight", usd(reserved))
    } else {
        String::new()
    };
    ProviderError::new(
        ErrorClass::Budget,
        format!(
            "not sent: its estimated cost {} would take the {spender} over its budget of {} \
             ({} spent{in_flight})",
            estimate.range(),
            usd(limit),
            usd(spent),
        ),
    )
}
