//! How the columns share the terminal's width. Only the width and the longest value of each
//! column over every row loaded decide it (the rows keep those as they arrive), so typing a
//! filter, scrolling or sorting never moves a column.

use crate::graph::resource::Role;
use crate::tui::table::rows::Rows;

/// The columns that fit in `width`, as `(column index, width)` in display order, and how many
/// did not fit.
///
/// Key columns (serial, status, tag, user) are always shown and shrink first towards a
/// comfortable width, then towards their minimum. With room left, each further column joins
/// in order of importance: an id only when it fits whole (a cut GUID is of no use to copy),
/// other columns at a comfortable width and cut if need be. Whatever is still left lets a
/// column that may grow past its cap (a long error name) show more.
pub fn layout(rows: &Rows, width: usize) -> (Vec<(usize, usize)>, usize) {
    let columns = rows.columns();
    // Room for the heading and its sort arrow, and for the longest value (up to the cap).
    let uncapped = |i: usize| (columns[i].title.chars().count() + 2).max(rows.widest(i));
    let ideal = |i: usize| uncapped(i).min(columns[i].width.2);
    let comfortable = |i: usize| columns[i].width.1;
    // In order of importance: among equally wide columns the less important shrinks first.
    let mut by_rank: Vec<usize> = (0..columns.len()).collect();
    by_rank.sort_by_key(|&i| (columns[i].role == Role::Key, columns[i].rank));
    let mut widths: Vec<(usize, usize)> =
        by_rank.iter().filter(|&&i| columns[i].role == Role::Key).map(|&i| (i, ideal(i))).collect();
    let gaps = widths.len().saturating_sub(1);
    let mut used = widths.iter().map(|w| w.1).sum::<usize>() + gaps;
    // Too narrow: shrink to a comfortable width, then to the minimum, the widest first.
    for floor in [1, 0] {
        let floor = |i: usize| if floor == 1 { columns[i].width.1 } else { columns[i].width.0 };
        while used > width {
            let Some(widest) =
                widths.iter_mut().filter(|(i, w)| *w > floor(*i)).max_by_key(|(i, w)| *w - floor(*i))
            else {
                break;
            };
            widest.1 -= 1;
            used -= 1;
        }
    }
    for (i, column) in by_rank.iter().map(|&i| (i, columns[i])).filter(|(_, c)| c.role != Role::Key) {
        if rows.widest(i) == 0 {
            continue; // nothing to show in it
        }
        let need = match column.role {
            Role::Whole => ideal(i),
            _ => ideal(i).min(comfortable(i).max(column.title.chars().count())),
        };
        if used + 1 + need <= width {
            widths.push((i, need));
            used += 1 + need;
        }
    }
    // Room left: columns shown cut to a comfortable width get back what their longest value
    // needs (up to the cap), the most important first.
    for &i in &by_rank {
        let Some((_, w)) = widths.iter_mut().find(|(c, _)| *c == i) else { continue };
        let more = ideal(i).saturating_sub(*w).min(width.saturating_sub(used));
        *w += more;
        used += more;
    }
    // Room left: a column that may pass its cap (a long error name) shows more.
    for (i, w) in widths.iter_mut().filter(|(i, _)| columns[*i].grows) {
        let more = uncapped(*i).saturating_sub(*w).min(width.saturating_sub(used));
        *w += more;
        used += more;
    }
    let hidden = columns.len() - widths.len();
    widths.sort_by_key(|(i, _)| *i);
    (widths, hidden)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::graph::imported::IMPORTED;
    use serde_json::json;

    fn rows() -> Rows {
        let mut rows = Rows::new(&IMPORTED, IMPORTED.columns.iter().collect());
        for n in 0..3 {
            let record = json!({"id": format!("7e1c8b0a-000{n}-4b2d-9c1e-5f6a7b8c9d01"), "serialNumber": "PF3ABCDE",
                "groupTag": "Sales", "assignedUserPrincipalName": "ana.lopez@contoso.com",
                "importId": "c0ffee00-0000-4000-8000-000000000001",
                "state": {"deviceImportStatus": "error", "deviceErrorCode": 808,
                          "deviceErrorName": "ZtdDeviceAssignedToOtherTenant"}});
            rows.push(&IMPORTED, record.as_object().unwrap());
        }
        rows
    }

    #[test]
    fn key_columns_always_ids_whole_or_not_at_all() {
        let rows = rows();
        for width in [38, 60, 80, 120, 160, 230] {
            let (cols, hidden) = layout(&rows, width);
            let used: usize = cols.iter().map(|c| c.1).sum::<usize>() + cols.len() - 1;
            assert!(used <= width, "{width}: {used}");
            assert_eq!(cols.len() + hidden, IMPORTED.columns.len());
            for key in [0, 1, 2, 3] {
                assert!(cols.iter().any(|c| c.0 == key), "{width}: key column {key} shown");
            }
            for (i, w) in &cols {
                if IMPORTED.columns[*i].role == Role::Whole {
                    assert!(*w >= rows.widest(*i), "{width}: id column {i} cut to {w}");
                }
            }
        }
        let (wide, hidden) = layout(&rows, 230);
        assert_eq!(hidden, 1, "the empty product key column is left out: {wide:?}");
    }
}
