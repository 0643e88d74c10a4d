//! The bulk job the app runs: started from a previewed plan, followed in the jobs view,
//! cancelled after the writes in flight.

use crate::jobs::plan::Plan;
use crate::tui::event::Effect;
use crate::tui::model::{JobView, Model};

/// Starts the job of a previewed plan (one at a time).
pub(super) fn start(model: &mut Model, plan: Plan) -> Vec<Effect> {
    let request_id = model.request_id();
    model.job = Some(JobView::new(request_id, plan.clone(), model.now));
    vec![Effect::RunJob { request_id, plan }]
}
