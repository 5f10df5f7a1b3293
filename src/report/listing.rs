//! `replay list` for people: one line per cell, id, endpoint and pin.

use crate::results::listing::{CellListing, pin_text};
use crate::support::words::count;

pub fn human(listing: &CellListing) -> String {
    let rows: Vec<[String; 3]> = listing
        .cells
        .iter()
        .map(|c| {
            [
                c.id.clone(),
                c.endpoint.clone().unwrap_or_else(|| "-".into()),
                pin_text(&c.pin),
            ]
        })
        .collect();
    let width = |i: usize, title: &str| {
        rows.iter()
            .map(|r| r[i].chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len())
    };
    let (w0, w1) = (width(0, "cell"), width(1, "endpoint"));
    let mut text = format!("{:w0$}  {:w1$}  pin\n", "cell", "endpoint");
    for [id, endpoint, pin] in &rows {
        text.push_str(&format!("{id:w0$}  {endpoint:w1$}  {pin}\n"));
    }
    text.push_str(&format!(
        "{} of suite {}{}\n",
        count(listing.cells.len(), "cell"),
        listing.suite.name,
        if listing.filter.is_empty() {
            String::new()
        } else {
            format!(" ({})", listing.filter)
        }
    ));
    text
}
