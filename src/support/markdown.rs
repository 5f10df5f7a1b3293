//! Text from outside (commit subjects, server reasons, observed values) put
//! into Markdown that job summaries and pull-request comments render.

/// `text` as literal Markdown inline text, safe inside a table cell: what
/// opens a link or an image (`[`), emphasis, code or a strikethrough, and a
/// cell border are escaped; HTML and entities are written as entities;
/// `@mentions` and `#references` neither link nor notify; line breaks (which
/// could start a heading or end the table) become spaces.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' => out.push_str("&#64;"),
            '#' => out.push_str("&#35;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn nothing_outside_text_keeps_a_markdown_meaning() {
        assert_eq!(
            escape("[click](https://evil.test) ![x](p.png) <img src=x> **b** `c` | @owner #1\n# h"),
            "\\[click\\](https://evil.test) !\\[x\\](p.png) &lt;img src=x&gt; \\*\\*b\\*\\* \\`c\\` \\| &#64;owner &#35;1 &#35; h"
        );
        assert_eq!(
            escape("plain words: 403 (not allowed)"),
            "plain words: 403 (not allowed)"
        );
    }
}
