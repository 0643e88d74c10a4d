//! The `:` command line of the table (k9s style): server-side searches that run the listing
//! with a Graph `$filter`, for tenants too large to load whole. Pure parsing, no I/O.

use crate::graph::client::odata_literal;

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
}

/// The commands, for the help: `(usage, what it does)`.
pub const COMMANDS: &[(&str, &str)] = &[
    (":serial TEXT", "server search: serial number contains TEXT (also :search, :s)"),
    (":tag TEXT", "server search: group tag contains TEXT"),
    (":user TEXT", "server search: assigned user contains TEXT"),
    (":status STATUS", "server search: import status is unknown/pending/partial/complete/error"),
    (":filter ODATA", "server search with your own $filter expression"),
    (":all", "list everything again (also Esc or r)"),
    (":q", "quit (asks when drafts are unsaved); :q! quits without asking"),
];

/// Parses a command line (without the `:`).
pub fn parse(line: &str) -> Result<Command, String> {
    let line = line.trim();
    let (word, rest) = match line.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (line, ""),
    };
    let contains = |property: &str| -> Result<Command, String> {
        if rest.is_empty() {
            return Err(format!(":{word} needs some text to search for, e.g. :{word} PF3"));
        }
        Ok(Command::ServerFilter(format!("contains({property},{})", odata_literal(rest))))
    };
    match word.to_ascii_lowercase().as_str() {
        "serial" | "search" | "s" => contains("serialNumber"),
        "tag" | "grouptag" => contains("groupTag"),
        "user" | "upn" => contains("assignedUserPrincipalName"),
        "status" => {
            let wanted = rest.to_ascii_lowercase();
            let known = ["unknown", "pending", "partial", "complete", "error"];
            if !known.contains(&wanted.as_str()) {
                return Err(format!(":status takes one of {}", known.join(", ")));
            }
            Ok(Command::ServerFilter(format!("state/deviceImportStatus eq {}", odata_literal(&wanted))))
        }
        "filter" | "f" if !rest.is_empty() => Ok(Command::ServerFilter(rest.to_string())),
        "filter" | "f" => {
            Err(":filter needs an OData expression, e.g. :filter startswith(serialNumber,'PF')".into())
        }
        "all" | "" => Ok(Command::All),
        "q" | "quit" => Ok(Command::Quit),
        "q!" | "quit!" => Ok(Command::QuitNow),
        other => {
            Err(format!("unknown command :{other} (try :serial, :tag, :user, :status, :all; ? lists them)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searches_become_filters_with_quotes_doubled() {
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
    }
}
