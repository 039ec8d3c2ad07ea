//! The literal options of builder chains whose root is a configurable
//! step call: `.timeout(..)` and `.lookback(..)` of a step or a wait,
//! `.timeout(..)` and `.queue(..)` of `ctx.invoke(..)` and
//! `ctx.start_child(..)`, recorded for the root's manifest and checked.

use super::options::string_literal;
use super::{DurationUse, StepFinder};
use crate::symbols;

impl StepFinder {
    /// Records the option `call` gives the chain it ends, if it is one
    /// with a literal argument. The chain's root is visited after this
    /// call (receivers are visited inside out), so the option waits for it
    /// in `chain_options`.
    pub(super) fn record_chain_option(&mut self, call: &syn::ExprMethodCall) {
        let Some(root) = self.step_chain_root(&call.receiver) else {
            return;
        };
        let Some(literal) = call.args.first().and_then(string_literal) else {
            return;
        };
        let child = symbols::CHILD_STEPS
            .iter()
            .any(|method| root.method == *method);
        let (duration, option) = if call.method == symbols::TIMEOUT {
            let what = if child {
                DurationUse::InvokeTimeout
            } else {
                DurationUse::StepTimeout
            };
            (Some(what), symbols::TIMEOUT)
        } else if call.method == symbols::LOOKBACK {
            (Some(DurationUse::Lookback), symbols::LOOKBACK)
        } else if call.method == symbols::QUEUE && child {
            self.queues.push(literal.clone());
            (None, symbols::QUEUE)
        } else {
            return;
        };
        if let Some(what) = duration {
            self.durations.push((what, literal.clone()));
        }
        self.chain_options
            .push((root as *const _, option.as_str(), literal.clone()));
    }
}
