//! The bulk job the app runs: started from a previewed plan, followed in the jobs view,
//! cancelled after the writes in flight.

use crate::jobs::plan::Plan;
use crate::tui::event::Effect;
use crate::tui::model::{JobView, Model};

/// Starts the job of a previewed plan (one at a time).
pub(super) fn start(model: &mut Model, plan: Plan) -> Vec<Effect> {
    let request_id = model.request_id();
    let title = format!("Bulk change of {} {}", plan.items.len(), plan.resource.title);
    model.job = Some(JobView::new(request_id, title, Some(plan.clone()), model.now));
    model.screen = crate::tui::model::Screen::Jobs;
    vec![Effect::RunJob { request_id, plan }]
}

/// `:jobs`: back to the running or last job.
pub(super) fn open(model: &mut Model) {
    if model.job.is_none() {
        model.say(
            crate::tui::model::Level::Info,
            "No job in this session yet (bulk edit with marks, or :import FILE)",
        );
        return;
    }
    model.screen = crate::tui::model::Screen::Jobs;
}

/// A key in the jobs view.
pub(super) fn action(model: &mut Model, action: crate::tui::event::Action) -> Vec<Effect> {
    use crate::tui::event::Action;
    use crate::tui::model::{Ask, Level, Overlay, Screen};
    let Some(job) = model.job.as_mut() else {
        model.screen = Screen::Table;
        return Vec::new();
    };
    match action {
        Action::ScrollUp => job.scroll = job.scroll.saturating_sub(5),
        Action::ScrollDown => job.scroll = job.scroll.saturating_add(5),
        Action::Export => match &job.results_csv {
            Some(bytes) => {
                let name = format!(
                    "autopilot-tui-results-{}.csv",
                    crate::graph::timestamp::format(model.wall).replace(':', "")
                );
                return vec![Effect::ExportResults { name, bytes: bytes.clone() }];
            }
            None => model.say(Level::Info, "The results can be exported once the job has ended"),
        },
        Action::Sync => return super::actions::sync(model),
        Action::ShowJobs => {
            model.screen = Screen::Table;
            if !job.finished {
                model.say(Level::Info, "The job goes on; :jobs shows it again");
            }
        }
        Action::Back if !job.finished && !job.cancelling => {
            let title = job.title.clone();
            model.overlay = Some(Overlay::Ask(Ask::CancelJob { title }));
        }
        Action::Back if !job.finished => {
            model.say(Level::Info, "Cancelling: waiting for the requests in flight")
        }
        Action::Back => model.screen = Screen::Table,
        Action::Help => model.overlay = Some(Overlay::Help { scroll: 0 }),
        _ => {}
    }
    Vec::new()
}

/// Yes to cancelling: the job stops after the requests in flight.
pub(super) fn cancel(model: &mut Model) -> Vec<Effect> {
    let Some(job) = model.job.as_mut().filter(|j| !j.finished) else { return Vec::new() };
    job.cancelling = true;
    job.note("cancelled: the requests in flight finish, nothing more is sent");
    vec![Effect::CancelJob { request_id: job.request_id }]
}
