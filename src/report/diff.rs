//! `replay diff` for people: the cells whose outcome changed, how, and the
//! cells only one side ran.

use crate::results::diff::Diff;
use crate::support::words::{agree, count};

pub fn human(diff: &Diff) -> String {
    let mut text = format!(
        "a: {} ({} at {})\nb: {} ({} at {})\n",
        diff.a.name, diff.a.kind, diff.a.revision, diff.b.name, diff.b.kind, diff.b.revision
    );
    if diff.suite_changed {
        text.push_str("note: the suite changed in between (its hash differs): pins or requests may differ too\n");
    }
    text.push('\n');
    let width = diff.changed.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for change in &diff.changed {
        text.push_str(&format!(
            "{:width$}  {} → {}  {}\n",
            change.id,
            change.verdict_a.as_str(),
            change.verdict_b.as_str(),
            change.changes.join(", ")
        ));
    }
    for (ids, side) in [(&diff.only_a, "a"), (&diff.only_b, "b")] {
        if !ids.is_empty() {
            text.push_str(&format!("only in {side}: {}\n", ids.join(", ")));
        }
    }
    text.push_str(&format!(
        "{} {}, {} the same\n",
        count(diff.changed.len(), "cell"),
        agree(diff.changed.len(), "differs", "differ"),
        diff.same
    ));
    text
}
