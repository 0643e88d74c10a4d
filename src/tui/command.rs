//! The `:` command line of the table (k9s style): server-side searches that run the listing
//! with a Graph `$filter`, for tenants too large to load whole. The searches come from the
//! resource's descriptor. Pure parsing, no I/O.

use crate::graph::client::odata_literal;
use crate::graph::resource::{Resource, SearchOp};

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// List again with this `$filter`.
    ServerFilter(String),
    /// List everything again (no `$filter`).
    All,
    /// Leave the app (asks when drafts are unsaved).
    Quit,
    /// Leave at once, dropping unsaved drafts (`:q!`).
    QuitNow,
    /// Show another kind of record (`:devices`, `:imported`).
    Show(&'static Resource),
    /// The record whose serial is exactly this: `contains` on the server (the live service
    /// refuses `eq`), compared exactly here.
    Exact(String),
    /// Ask Intune to sync with the Autopilot service.
    Sync,
    /// The unsaved drafts.
    Drafts,
    /// The write log, filtered by the text after it.
    Journal(String),
    /// Check a hardware-hash CSV, plan it against the tenant, then import it.
    Import(String),
    /// The running or last job.
    Jobs,
}

/// The commands every resource has, for the help: `(usage, what it does)`.
const GENERAL: &[(&str, &str)] = &[
    (":devices", "show registered Autopilot devices (what admins edit; also :registered)"),
    (":imported", "show the import queue of imported identities (also :imports)"),
    (":exact SERIAL", "the record with exactly this serial (contains on the server, then compared here)"),
    (":sync", "ask Intune to sync with the Autopilot service (beta; at most once per 10 minutes)"),
    (":drafts", "the unsaved drafts (kept on disk): open, discard one or all"),
    (":journal [TEXT]", "every write that reached the server, newest first (u undoes one)"),
    (
        ":import FILE.csv",
        "check a hardware-hash CSV, plan it against the tenant, import, watch, clean up (Tab completes)",
    ),
    (":jobs", "the running or last job (bulk change, import)"),
    (":filter ODATA", "server search with your own $filter expression"),
    (":all", "list everything again (also Esc or r)"),
    (":q", "quit (asks when drafts are unsaved); :q! quits without asking"),
];

/// The commands of a resource, for the help: `(usage, what it does)`.
pub fn commands(resource: &Resource) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = resource
        .searches
        .iter()
        .map(|search| {
            let (word, others) = search.words.split_first().map_or(("", &[][..]), |(w, rest)| (*w, rest));
            let arg = match search.op {
                SearchOp::Contains => "TEXT",
                SearchOp::EqualsValue(_) => "VALUE",
            };
            let mut help =
                format!("server search: {}", search.help.replace("TEXT", arg).replace("STATUS", arg));
            if let SearchOp::EqualsValue(values) = search.op {
                help.push_str(&format!(" ({})", values.join("/")));
            }
            if !others.is_empty() {
                let also: Vec<String> = others.iter().map(|w| format!(":{w}")).collect();
                help.push_str(&format!(" (also {})", also.join(", ")));
            }
            (format!(":{word} {arg}"), help)
        })
        .collect();
    out.extend(GENERAL.iter().map(|(u, w)| (u.to_string(), w.to_string())));
    out
}

/// Parses a command line (without the `:`) for the table of `resource`.
pub fn parse(line: &str, resource: &Resource) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let word = word.to_ascii_lowercase();
    if let Some(other) = crate::graph::resources().into_iter().find(|r| r.is_named(&word)) {
        return if rest.is_empty() {
            Ok(Command::Show(other))
        } else {
            Err(format!(":{word} takes nothing after it (a server search is :serial TEXT)"))
        };
    }
    if let Some(search) = resource.searches.iter().find(|s| s.words.contains(&word.as_str())) {
        return match search.op {
            SearchOp::Contains if rest.is_empty() => {
                Err(format!(":{word} needs some text to search for, e.g. :{word} PF3"))
            }
            SearchOp::Contains => {
                Ok(Command::ServerFilter(format!("contains({},{})", search.path, odata_literal(rest))))
            }
            SearchOp::EqualsValue(values) => {
                let wanted = values.iter().find(|v| v.eq_ignore_ascii_case(rest));
                match wanted {
                    Some(value) => {
                        Ok(Command::ServerFilter(format!("{} eq {}", search.path, odata_literal(value))))
                    }
                    None => Err(format!(":{word} takes one of {}", values.join(", "))),
                }
            }
        };
    }
    match word.as_str() {
        "filter" | "f" if !rest.is_empty() => Ok(Command::ServerFilter(rest.to_string())),
        "filter" | "f" => {
            Err(":filter needs an OData expression, e.g. :filter contains(serialNumber,'PF')".into())
        }
        "all" | "" => Ok(Command::All),
        "exact" | "is" if rest.is_empty() => {
            Err(format!(":{word} needs a serial number, e.g. :{word} PF3ABCDE"))
        }
        "exact" | "is" if resource.field("serialNumber").is_none() => {
            Err(format!("{} have no serial number to look up", resource.title))
        }
        "exact" | "is" => Ok(Command::Exact(rest.to_string())),
        "sync" if rest.is_empty() => Ok(Command::Sync),
        "drafts" => Ok(Command::Drafts),
        "journal" | "writes" => Ok(Command::Journal(rest.to_string())),
        "import" if rest.is_empty() => {
            Err(":import needs a file, e.g. :import ~/Downloads/hashes.csv (Tab completes)".into())
        }
        "import" => Ok(Command::Import(rest.to_string())),
        "jobs" | "job" => Ok(Command::Jobs),
        "sync" => Err(":sync takes nothing after it".into()),
        "q" | "quit" => Ok(Command::Quit),
        "q!" | "quit!" => Ok(Command::QuitNow),
        other => {
            let known: Vec<String> =
                resource.searches.iter().filter_map(|s| s.words.first()).map(|w| format!(":{w}")).collect();
            Err(format!("unknown command :{other} (try {}, :all; ? lists them)", known.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;

    #[test]
    fn searches_become_filters_with_quotes_doubled() {
        let parse = |line: &str| parse(line, &IMPORTED);
        assert_eq!(parse("serial PF3"), Ok(Command::ServerFilter("contains(serialNumber,'PF3')".into())));
        assert_eq!(
            parse("  user o'brien@contoso.com "),
            Ok(Command::ServerFilter("contains(assignedUserPrincipalName,'o''brien@contoso.com')".into()))
        );
        assert_eq!(parse("tag Lab 4"), Ok(Command::ServerFilter("contains(groupTag,'Lab 4')".into())));
        assert_eq!(
            parse("status Error"),
            Ok(Command::ServerFilter("state/deviceImportStatus eq 'error'".into()))
        );
        assert_eq!(parse("all"), Ok(Command::All));
        assert_eq!(parse("q"), Ok(Command::Quit));
        assert_eq!(parse("q!"), Ok(Command::QuitNow));
        assert!(parse("serial").is_err());
        assert!(parse("status done").is_err());
        assert!(parse("frobnicate").is_err());
        assert_eq!(parse("devices"), Ok(Command::Show(&crate::graph::registered::REGISTERED)));
        assert_eq!(parse("Registered"), Ok(Command::Show(&crate::graph::registered::REGISTERED)));
        assert_eq!(parse("imported"), Ok(Command::Show(&IMPORTED)));
        assert!(parse("devices PF3").is_err());
        assert_eq!(parse("exact  PF3ABCDE "), Ok(Command::Exact("PF3ABCDE".into())));
        assert!(parse("exact").is_err());
        assert_eq!(parse("sync"), Ok(Command::Sync));
    }

    #[test]
    fn the_help_lists_every_search_of_the_resource() {
        let lines = commands(&IMPORTED);
        assert!(
            lines.iter().any(|(u, w)| u == ":serial TEXT" && w.contains("also :search, :s")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(u, w)| u == ":status VALUE" && w.contains("unknown/pending")),
            "{lines:?}"
        );
    }
}
