//! The request store: every request the app started, by id, with what it is for and where it
//! stands, so any number can be in flight and an answer finds its record whatever the screen
//! shows now. The tasks themselves (and their cancel handles) live in the effect runner; this
//! is the model's side, plain data.

use std::collections::BTreeMap;

/// What a request is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// A listing of the table.
    List,
    /// One record fetched whole (for the form).
    Get {
        /// The record's id.
        id: String,
    },
    /// A change written to one record.
    Save {
        /// The record's id.
        id: String,
        /// What the table calls the record (its serial), for messages.
        label: String,
        /// The labels of the fields sent.
        fields: Vec<&'static str>,
    },
    /// An action on one record (assign user, delete, ...).
    Act {
        /// The record's id.
        id: String,
        /// What the table calls the record (its serial), for messages.
        label: String,
        /// The action.
        action: &'static crate::graph::resource::RecordAction,
    },
    /// The Autopilot sync.
    Sync,
    /// The device code sign-in.
    SignIn,
}

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestStatus {
    /// Sent (or being retried); no final answer yet.
    Loading,
    /// Answered with success.
    Done,
    /// Failed, with the reason in words.
    Failed(String),
    /// Stopped by the user.
    Cancelled,
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestState {
    /// What it is for.
    pub kind: RequestKind,
    /// Where it stands.
    pub status: RequestStatus,
    /// How many exchanges it made so far (each is in the history).
    pub exchanges: usize,
    /// Every failed attempt so far was a 429 refusal, answered before the server did anything
    /// (a write cancelled now then changed nothing).
    pub refused_only: bool,
}

/// How many finished requests are remembered (the in-flight ones always are).
const FINISHED_CAP: usize = 500;

/// Every request by id.
#[derive(Debug, Default)]
pub struct Requests {
    all: BTreeMap<u64, RequestState>,
}

impl Requests {
    /// Records a request that is starting.
    pub fn start(&mut self, request_id: u64, kind: RequestKind) {
        self.all.insert(
            request_id,
            RequestState { kind, status: RequestStatus::Loading, exchanges: 0, refused_only: true },
        );
        self.forget_old();
    }

    /// A request by id.
    pub fn get(&self, request_id: u64) -> Option<&RequestState> {
        self.all.get(&request_id)
    }

    /// A request by id, to change.
    pub fn get_mut(&mut self, request_id: u64) -> Option<&mut RequestState> {
        self.all.get_mut(&request_id)
    }

    /// Whether a request is still waiting for its answer.
    pub fn in_flight(&self, request_id: u64) -> bool {
        self.get(request_id).is_some_and(|r| r.status == RequestStatus::Loading)
    }

    /// Sets a request's final status; `false` when it had already ended (a late answer after
    /// a cancel, say) or is unknown.
    pub fn finish(&mut self, request_id: u64, status: RequestStatus) -> bool {
        match self.all.get_mut(&request_id) {
            Some(r) if r.status == RequestStatus::Loading => {
                r.status = status;
                true
            }
            _ => false,
        }
    }

    /// The save in flight for a record, if any.
    pub fn saving(&self, record_id: &str) -> Option<u64> {
        self.all.iter().find_map(|(id, r)| match &r.kind {
            RequestKind::Save { id: rid, .. } if rid == record_id && r.status == RequestStatus::Loading => {
                Some(*id)
            }
            _ => None,
        })
    }

    /// The fetch in flight for a record, if any.
    pub fn fetching(&self, record_id: &str) -> Option<u64> {
        self.all.iter().find_map(|(id, r)| match &r.kind {
            RequestKind::Get { id: rid } if rid == record_id && r.status == RequestStatus::Loading => {
                Some(*id)
            }
            _ => None,
        })
    }

    /// How many requests wait for an answer.
    pub fn in_flight_count(&self) -> usize {
        self.all.values().filter(|r| r.status == RequestStatus::Loading).count()
    }

    fn forget_old(&mut self) {
        let finished = self.all.values().filter(|r| r.status != RequestStatus::Loading).count();
        let mut extra = finished.saturating_sub(FINISHED_CAP);
        if extra == 0 {
            return;
        }
        self.all.retain(|_, r| {
            if extra > 0 && r.status != RequestStatus::Loading {
                extra -= 1;
                false
            } else {
                true
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_are_found_by_record_and_end_once() {
        let mut r = Requests::default();
        r.start(1, RequestKind::List);
        r.start(2, RequestKind::Save { id: "a".into(), label: "S1".into(), fields: vec!["Group tag"] });
        assert_eq!(r.saving("a"), Some(2));
        assert_eq!(r.in_flight_count(), 2);
        assert!(r.finish(2, RequestStatus::Cancelled));
        assert!(!r.finish(2, RequestStatus::Done), "a late answer after a cancel does not count");
        assert_eq!(r.saving("a"), None);
        for id in 10..10 + FINISHED_CAP as u64 + 5 {
            r.start(id, RequestKind::List);
            r.finish(id, RequestStatus::Done);
        }
        assert!(r.in_flight(1), "requests in flight are never forgotten");
        assert!(r.get(2).is_none(), "the oldest finished ones are");
    }
}
