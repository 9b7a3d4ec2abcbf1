//! The dry run's cost estimate of one request: its first candidate's price, the prompt's
//! estimated tokens and the output limit (`model::prices` holds the arithmetic).

use super::RunRequest;
use super::requests::StepSetup;
use crate::model::prices::{Estimate, Priced, request_estimate};

/// What one planned request may cost.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEstimate {
    /// The provider asked first.
    pub provider: String,
    /// Its model.
    pub model: String,
    /// The estimate and the price behind it (`None`: no price is known for the model).
    pub cost: Option<(Estimate, Priced)>,
}

/// The estimate of sending `prompt` to `setup`'s first candidate.
pub(super) fn estimate(request: &RunRequest, setup: &StepSetup, prompt: &str) -> RequestEstimate {
    let first = setup.first();
    let cost = request.workspace.catalog.provider(&first.provider).and_then(|info| {
        request_estimate(
            info,
            &first.model,
            setup.system.as_deref(),
            prompt,
            setup.params.max_tokens,
        )
    });
    RequestEstimate {
        provider: first.provider.clone(),
        model: first.model.clone(),
        cost,
    }
}
