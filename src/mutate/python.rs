//! Mutants of a Python file, found on its tree-sitter syntax tree.
//!
//! Every mutant is one byte-range replacement of the original source, so it
//! can be laid on a revision as a blob. Its id is stable across unrelated
//! edits: the operator, the enclosing function and the normalised source of
//! the node it changes (tokens joined by one space, comments left out) —
//! never a line number — plus an occurrence number when one function holds
//! the same node twice.

use std::collections::{BTreeSet, HashMap};

use sha2::{Digest, Sha256};
use tree_sitter::{Node, Parser};

use super::MutateError;

/// What a mutant changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// `if c:` → `if not (c):` (`if not c:` → `if c:`), also on `elif`.
    NegateCondition,
    /// `if c:` → `if True:`.
    ConditionTrue,
    /// `if c:` → `if False:`.
    ConditionFalse,
    /// `raise e` → `pass`.
    DropRaise,
    /// An early `return` of a verdict (bare, a constant, or a denial such as
    /// `return auth_error(...)`) → `pass`.
    DropReturn,
    /// `and` ↔ `or`.
    AndOr,
    /// `==` ↔ `!=`.
    EqNe,
    /// `in` ↔ `not in`.
    InNotIn,
    /// `is` ↔ `is not`.
    IsIsNot,
    /// `return True` ↔ `return False`.
    PredicateReturn,
    /// A bare `check_...(...)` statement (its result unused) → `pass`.
    DropCall,
    /// A role string compared against → another role string of the file.
    SwapRole,
}

impl Operator {
    pub const ALL: [Operator; 12] = [
        Operator::NegateCondition,
        Operator::ConditionTrue,
        Operator::ConditionFalse,
        Operator::DropRaise,
        Operator::DropReturn,
        Operator::AndOr,
        Operator::EqNe,
        Operator::InNotIn,
        Operator::IsIsNot,
        Operator::PredicateReturn,
        Operator::DropCall,
        Operator::SwapRole,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operator::NegateCondition => "negate-condition",
            Operator::ConditionTrue => "condition-true",
            Operator::ConditionFalse => "condition-false",
            Operator::DropRaise => "drop-raise",
            Operator::DropReturn => "drop-return",
            Operator::AndOr => "and-or",
            Operator::EqNe => "eq-ne",
            Operator::InNotIn => "in-not-in",
            Operator::IsIsNot => "is-is-not",
            Operator::PredicateReturn => "predicate-return",
            Operator::DropCall => "drop-call",
            Operator::SwapRole => "swap-role",
        }
    }

    pub fn parse(name: &str) -> Option<Operator> {
        Operator::ALL.into_iter().find(|o| o.name() == name)
    }
}

/// One mutant: one change to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mutant {
    /// `operator:function:hash`, with `-N` for the Nth equal node of a function.
    pub id: String,
    pub file: String,
    /// The enclosing function (`Class.method`, `outer.inner`), `<module>` outside any.
    pub function: String,
    pub operator: Operator,
    /// 1-based line and column where the change starts.
    pub line: usize,
    pub column: usize,
    /// The line(s) the change touches, before and after.
    pub original: String,
    pub mutated: String,
    start: usize,
    end: usize,
    replacement: String,
}

impl Mutant {
    /// The file's source with this mutant's change laid on it.
    pub fn apply(&self, source: &str) -> String {
        let mut out = String::with_capacity(source.len() + self.replacement.len());
        out.push_str(&source[..self.start]);
        out.push_str(&self.replacement);
        out.push_str(&source[self.end..]);
        out
    }
}

/// A change found on the tree, before it gets its id.
struct Found {
    operator: Operator,
    function: String,
    /// The normalised source of the node the change belongs to, and what
    /// tells two changes of one node apart (an operator's position, the new text).
    node: String,
    detail: String,
    start: usize,
    end: usize,
    replacement: String,
}

/// Names of calls whose only job is to allow or deny: `check_view(...)`.
const CHECK_PREFIXES: &[&str] = &[
    "check", "verify", "require", "ensure", "assert", "authori", "validate", "deny", "forbid",
];
/// Names of calls that make a denial: `return auth_error(403, ...)`.
const DENIAL_WORDS: &[&str] = &[
    "error",
    "deny",
    "denied",
    "forbid",
    "unauthori",
    "reject",
    "abort",
    "exception",
];
/// What an expression compared with a role string is called.
const ROLE_WORDS: &[&str] = &["role", "permission", "perm", "scope", "privilege"];

/// Every mutant of `source` (the file `file`), in source order.
pub fn generate(file: &str, source: &str) -> Result<Vec<Mutant>, MutateError> {
    let mut parser = Parser::new();
    parser
        .set_language(&tree_sitter_python::LANGUAGE.into())
        .expect("the Python grammar matches tree-sitter");
    let tree = parser
        .parse(source, None)
        .ok_or_else(|| MutateError::Parse {
            file: file.into(),
            line: 1,
            column: 1,
        })?;
    let root = tree.root_node();
    if root.has_error() {
        let at = first_error(root).unwrap_or(root);
        return Err(MutateError::Parse {
            file: file.into(),
            line: at.start_position().row + 1,
            column: at.start_position().column + 1,
        });
    }
    let walk = Walk {
        src: source.as_bytes(),
        roles: roles(root, source.as_bytes()),
    };
    let mut found = Vec::new();
    walk.visit(root, &mut Vec::new(), &mut found);
    found.sort_by_key(|f| (f.start, f.operator, f.replacement.clone()));

    let mut seen: HashMap<String, usize> = HashMap::new();
    Ok(found
        .into_iter()
        .map(|f| {
            let mut hasher = Sha256::new();
            for part in [f.operator.name(), &f.function, &f.node, &f.detail] {
                hasher.update(part.as_bytes());
                hasher.update([0]);
            }
            let hash = hex::encode(&hasher.finalize()[..4]);
            let base = format!("{}:{}:{hash}", f.operator.name(), f.function);
            let count = seen.entry(base.clone()).or_default();
            *count += 1;
            let id = if *count == 1 {
                base
            } else {
                format!("{base}-{count}")
            };
            let line_start = source[..f.start].rfind('\n').map_or(0, |i| i + 1);
            let line_end = source[f.end..]
                .find('\n')
                .map_or(source.len(), |i| f.end + i);
            Mutant {
                id,
                file: file.into(),
                function: f.function,
                operator: f.operator,
                line: source[..f.start].matches('\n').count() + 1,
                column: f.start - line_start + 1,
                original: source[line_start..line_end].to_string(),
                mutated: format!(
                    "{}{}{}",
                    &source[line_start..f.start],
                    f.replacement,
                    &source[f.end..line_end]
                ),
                start: f.start,
                end: f.end,
                replacement: f.replacement,
            }
        })
        .collect())
}

fn first_error(node: Node<'_>) -> Option<Node<'_>> {
    if node.is_error() || node.is_missing() {
        return Some(node);
    }
    let mut cursor = node.walk();
    let children: Vec<Node> = node.children(&mut cursor).collect();
    children
        .into_iter()
        .filter(|c| c.has_error())
        .find_map(first_error)
}

fn children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.children(&mut cursor).collect()
}

fn text<'s>(node: Node<'_>, src: &'s [u8]) -> &'s str {
    node.utf8_text(src).unwrap_or("")
}

/// The node's tokens joined by one space, comments left out: the same for
/// `a  ==  b` and `a == b`, and for the node wherever it moves.
fn normalised(node: Node<'_>, src: &[u8]) -> String {
    fn leaves(node: Node<'_>, src: &[u8], out: &mut Vec<String>) {
        if node.kind() == "comment" {
            return;
        }
        // A string is one token, whatever its parts.
        if node.child_count() == 0 || node.kind() == "string" {
            out.push(text(node, src).to_string());
            return;
        }
        for child in children(node) {
            leaves(child, src, out);
        }
    }
    let mut out = Vec::new();
    leaves(node, src, &mut out);
    out.join(" ")
}

/// A string literal without interpolation: its text (quotes included).
fn plain_string<'s>(node: Node<'_>, src: &'s [u8]) -> Option<&'s str> {
    (node.kind() == "string" && !children(node).iter().any(|c| c.kind() == "interpolation"))
        .then(|| text(node, src))
}

/// The value of a plain string literal (what is between the quotes).
fn string_value(node: Node<'_>, src: &[u8]) -> Option<String> {
    plain_string(node, src)?;
    Some(
        children(node)
            .iter()
            .filter(|c| c.kind() == "string_content")
            .map(|c| text(*c, src))
            .collect(),
    )
}

fn mentions(textual: &str, words: &[&str]) -> bool {
    let lower = textual.to_ascii_lowercase();
    words.iter().any(|w| lower.contains(w))
}

/// The last name of a call's callee: `check_view` for `auth.check_view(...)`.
fn callee_name<'s>(call: Node<'_>, src: &'s [u8]) -> Option<&'s str> {
    let function = call.child_by_field_name("function")?;
    match function.kind() {
        "identifier" => Some(text(function, src)),
        "attribute" => function
            .child_by_field_name("attribute")
            .map(|a| text(a, src)),
        _ => None,
    }
}

/// The role strings of a file: plain strings compared (`==`, `!=`, `in`,
/// `not in`) with an expression named like a role or permission, and plain
/// strings returned by a function named like a role. Each value once, in
/// source order, as written (quotes included).
fn roles(root: Node<'_>, src: &[u8]) -> Vec<String> {
    fn visit(node: Node<'_>, src: &[u8], function: Option<&str>, out: &mut Vec<(String, String)>) {
        let mut function = function;
        let name;
        if node.kind() == "function_definition" {
            name = node
                .child_by_field_name("name")
                .map(|n| text(n, src).to_string());
            function = name.as_deref();
        }
        if node.kind() == "comparison_operator" {
            let operands: Vec<Node> = children(node)
                .into_iter()
                .filter(|c| c.is_named())
                .collect();
            for (i, operand) in operands.iter().enumerate() {
                let Some(value) = string_value(*operand, src) else {
                    continue;
                };
                let role_like = operands
                    .iter()
                    .enumerate()
                    .any(|(j, other)| j != i && mentions(text(*other, src), ROLE_WORDS));
                if role_like {
                    out.push((value, text(*operand, src).to_string()));
                }
            }
        }
        if node.kind() == "return_statement" && function.is_some_and(|f| mentions(f, &["role"])) {
            for child in children(node) {
                if let Some(value) = string_value(child, src) {
                    out.push((value, text(child, src).to_string()));
                }
                if child.kind() == "boolean_operator" {
                    for part in children(child) {
                        if let Some(value) = string_value(part, src) {
                            out.push((value, text(part, src).to_string()));
                        }
                    }
                }
            }
        }
        for child in children(node) {
            visit(child, src, function, out);
        }
    }
    let mut found = Vec::new();
    visit(root, src, None, &mut found);
    let mut values = BTreeSet::new();
    found
        .into_iter()
        .filter(|(value, _)| values.insert(value.clone()))
        .map(|(_, written)| written)
        .collect()
}

struct Walk<'s> {
    src: &'s [u8],
    roles: Vec<String>,
}

impl Walk<'_> {
    fn visit(&self, node: Node<'_>, scope: &mut Vec<String>, out: &mut Vec<Found>) {
        let named_scope = matches!(node.kind(), "function_definition" | "class_definition");
        if named_scope {
            let name = node
                .child_by_field_name("name")
                .map(|n| text(n, self.src).to_string())
                .unwrap_or_default();
            scope.push(name);
        }
        let function = if scope.is_empty() {
            "<module>".to_string()
        } else {
            scope.join(".")
        };
        let mut add = |operator, at: Node<'_>, detail: String, start, end, replacement: String| {
            out.push(Found {
                operator,
                function: function.clone(),
                node: normalised(at, self.src),
                detail,
                start,
                end,
                replacement,
            })
        };
        let whole = |n: Node<'_>| (n.start_byte(), n.end_byte());
        match node.kind() {
            "if_statement" | "elif_clause" => {
                if let Some(condition) = node.child_by_field_name("condition") {
                    let (start, end) = whole(condition);
                    let negated = match condition.kind() {
                        "not_operator" => condition
                            .child_by_field_name("argument")
                            .map(|a| text(a, self.src).to_string())
                            .unwrap_or_default(),
                        _ => format!("not ({})", text(condition, self.src)),
                    };
                    add(
                        Operator::NegateCondition,
                        condition,
                        String::new(),
                        start,
                        end,
                        negated,
                    );
                    if condition.kind() != "true" {
                        add(
                            Operator::ConditionTrue,
                            condition,
                            String::new(),
                            start,
                            end,
                            "True".into(),
                        );
                    }
                    if condition.kind() != "false" {
                        add(
                            Operator::ConditionFalse,
                            condition,
                            String::new(),
                            start,
                            end,
                            "False".into(),
                        );
                    }
                }
            }
            "raise_statement" => {
                let (start, end) = whole(node);
                add(
                    Operator::DropRaise,
                    node,
                    String::new(),
                    start,
                    end,
                    "pass".into(),
                );
            }
            "return_statement" => {
                let value = children(node).into_iter().find(|c| c.is_named());
                if let Some(value) = value
                    && matches!(value.kind(), "true" | "false")
                {
                    let (start, end) = whole(value);
                    let flipped = if value.kind() == "true" {
                        "False"
                    } else {
                        "True"
                    };
                    add(
                        Operator::PredicateReturn,
                        node,
                        String::new(),
                        start,
                        end,
                        flipped.into(),
                    );
                }
                let verdict = match value {
                    None => true,
                    Some(v) if matches!(v.kind(), "true" | "false" | "none") => true,
                    Some(v) if v.kind() == "call" => {
                        callee_name(v, self.src).is_some_and(|n| mentions(n, DENIAL_WORDS))
                    }
                    _ => false,
                };
                if verdict && is_early(node) {
                    let (start, end) = whole(node);
                    add(
                        Operator::DropReturn,
                        node,
                        String::new(),
                        start,
                        end,
                        "pass".into(),
                    );
                }
            }
            "boolean_operator" => {
                if let Some(operator) = node.child_by_field_name("operator") {
                    let (start, end) = whole(operator);
                    let swapped = if operator.kind() == "and" {
                        "or"
                    } else {
                        "and"
                    };
                    add(
                        Operator::AndOr,
                        node,
                        String::new(),
                        start,
                        end,
                        swapped.into(),
                    );
                }
            }
            "comparison_operator" => {
                let mut cursor = node.walk();
                let operators: Vec<Node> = node
                    .children_by_field_name("operators", &mut cursor)
                    .collect();
                for (index, operator) in operators.iter().enumerate() {
                    let (kind, swapped) = match operator.kind() {
                        "==" => (Operator::EqNe, "!="),
                        "!=" => (Operator::EqNe, "=="),
                        "in" => (Operator::InNotIn, "not in"),
                        "not in" => (Operator::InNotIn, "in"),
                        "is" => (Operator::IsIsNot, "is not"),
                        "is not" => (Operator::IsIsNot, "is"),
                        _ => continue,
                    };
                    let (start, end) = whole(*operator);
                    add(kind, node, index.to_string(), start, end, swapped.into());
                }
                let compares_values = operators
                    .iter()
                    .any(|o| matches!(o.kind(), "==" | "!=" | "in" | "not in"));
                if compares_values {
                    for operand in children(node).into_iter().filter(|c| c.is_named()) {
                        let Some(written) = plain_string(operand, self.src) else {
                            continue;
                        };
                        let value = string_value(operand, self.src);
                        if !self.roles.iter().any(|r| r == written) {
                            continue;
                        }
                        for other in &self.roles {
                            let other_node_value = other.trim_matches(|c| c == '"' || c == '\'');
                            if other == written || value.as_deref() == Some(other_node_value) {
                                continue;
                            }
                            let (start, end) = whole(operand);
                            add(
                                Operator::SwapRole,
                                node,
                                format!("{written}→{other}"),
                                start,
                                end,
                                other.clone(),
                            );
                        }
                    }
                }
            }
            "expression_statement" => {
                let inner: Vec<Node> = children(node)
                    .into_iter()
                    .filter(|c| c.is_named())
                    .collect();
                if let [only] = inner.as_slice() {
                    let call = match only.kind() {
                        "call" => Some(*only),
                        "await" => children(*only).into_iter().find(|c| c.kind() == "call"),
                        _ => None,
                    };
                    if let Some(call) = call
                        && callee_name(call, self.src).is_some_and(|n| {
                            let lower = n.to_ascii_lowercase();
                            CHECK_PREFIXES.iter().any(|p| lower.starts_with(p))
                        })
                    {
                        let (start, end) = whole(node);
                        add(
                            Operator::DropCall,
                            node,
                            String::new(),
                            start,
                            end,
                            "pass".into(),
                        );
                    }
                }
            }
            _ => {}
        }
        for child in children(node) {
            self.visit(child, scope, out);
        }
        if named_scope {
            scope.pop();
        }
    }
}

/// Whether a `return` is early: not the last statement of its function's body.
fn is_early(node: Node<'_>) -> bool {
    let Some(parent) = node.parent() else {
        return false;
    };
    let last_of_body = parent.kind() == "block"
        && parent
            .parent()
            .is_some_and(|p| p.kind() == "function_definition")
        && parent.named_child(parent.named_child_count().saturating_sub(1) as u32) == Some(node);
    !last_of_body
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mutants(source: &str) -> Vec<Mutant> {
        generate("f.py", source).unwrap()
    }

    /// Each mutant of `source` by `operator`, as (original line, mutated line), trimmed.
    fn of(source: &str, operator: Operator) -> Vec<(String, String)> {
        mutants(source)
            .into_iter()
            .filter(|m| m.operator == operator)
            .map(|m| (m.original.trim().to_string(), m.mutated.trim().to_string()))
            .collect()
    }

    fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    const CHECK: &str = r#"
def check(caller, target):
    if caller.is_admin:
        return
    elif not owns(caller, target):
        raise auth_error(403, "no")
"#;

    #[test]
    fn conditions_are_negated_and_replaced() {
        assert_eq!(
            of(CHECK, Operator::NegateCondition),
            pairs(&[
                ("if caller.is_admin:", "if not (caller.is_admin):"),
                (
                    "elif not owns(caller, target):",
                    "elif owns(caller, target):"
                ),
            ])
        );
        assert_eq!(
            of(CHECK, Operator::ConditionTrue),
            pairs(&[
                ("if caller.is_admin:", "if True:"),
                ("elif not owns(caller, target):", "elif True:"),
            ])
        );
        assert_eq!(of(CHECK, Operator::ConditionFalse)[0].1, "if False:");
    }

    #[test]
    fn raises_and_early_returns_are_dropped() {
        assert_eq!(
            of(CHECK, Operator::DropRaise),
            pairs(&[("raise auth_error(403, \"no\")", "pass")])
        );
        assert_eq!(
            of(CHECK, Operator::DropReturn),
            pairs(&[("return", "pass")])
        );
        // A last return, and an early return of data, are not verdicts to drop.
        let source = "def f(x):\n    if x:\n        return x\n    if not x:\n        return deny_error()\n    return None\n";
        assert_eq!(
            of(source, Operator::DropReturn),
            pairs(&[("return deny_error()", "pass")])
        );
    }

    #[test]
    fn boolean_and_comparison_operators_are_swapped() {
        let source = "def f(a, b):\n    if a and b or a == 1 or b != 2:\n        return a in b or a not in b or a is None or b is not None\n";
        let swapped = |operator| {
            of(source, operator)
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            swapped(Operator::AndOr),
            [
                "if a or b or a == 1 or b != 2:",
                "if a and b and a == 1 or b != 2:",
                "if a and b or a == 1 and b != 2:",
                "return a in b and a not in b or a is None or b is not None",
                "return a in b or a not in b and a is None or b is not None",
                "return a in b or a not in b or a is None and b is not None",
            ]
        );
        assert_eq!(
            swapped(Operator::EqNe),
            [
                "if a and b or a != 1 or b != 2:",
                "if a and b or a == 1 or b == 2:"
            ]
        );
        assert_eq!(
            swapped(Operator::InNotIn),
            [
                "return a not in b or a not in b or a is None or b is not None",
                "return a in b or a in b or a is None or b is not None",
            ]
        );
        assert_eq!(
            swapped(Operator::IsIsNot),
            [
                "return a in b or a not in b or a is not None or b is not None",
                "return a in b or a not in b or a is None or b is None",
            ]
        );
    }

    #[test]
    fn predicates_flip_their_answer() {
        let source = "def allowed(x):\n    if x:\n        return True\n    return False\n";
        assert_eq!(
            of(source, Operator::PredicateReturn),
            pairs(&[
                ("return True", "return False"),
                ("return False", "return True")
            ])
        );
    }

    #[test]
    fn bare_check_calls_are_dropped_and_used_ones_kept() {
        let source = "async def handler(caller, target):\n    check_view(caller, target)\n    await auth.check_delete(caller)\n    ok = check_update(caller)\n    load(caller)\n    return ok\n";
        assert_eq!(
            of(source, Operator::DropCall),
            pairs(&[
                ("check_view(caller, target)", "pass"),
                ("await auth.check_delete(caller)", "pass"),
            ])
        );
    }

    #[test]
    fn role_strings_swap_with_the_other_roles_of_the_file() {
        let source = r#"
def user_role(row):
    return row["user_role"] or "internal_user"

def check(caller, team):
    if caller.role == "proxy_admin":
        return
    if team_role(team) != 'admin' and caller.name == "bob":
        raise denied()
"#;
        assert_eq!(
            of(source, Operator::SwapRole)
                .into_iter()
                .map(|(_, m)| m)
                .collect::<Vec<_>>(),
            [
                r#"if caller.role == "internal_user":"#,
                r#"if caller.role == 'admin':"#,
                r#"if team_role(team) != "internal_user" and caller.name == "bob":"#,
                r#"if team_role(team) != "proxy_admin" and caller.name == "bob":"#,
            ]
        );
    }

    #[test]
    fn a_mutant_applies_its_one_change() {
        let all = mutants(CHECK);
        let raise = all
            .iter()
            .find(|m| m.operator == Operator::DropRaise)
            .unwrap();
        assert_eq!(raise.function, "check");
        assert_eq!((raise.line, raise.column), (6, 9));
        let mutated = raise.apply(CHECK);
        assert_eq!(
            mutated,
            CHECK.replace("raise auth_error(403, \"no\")", "pass")
        );
        // Every mutant is still Python.
        for mutant in &all {
            generate("f.py", &mutant.apply(CHECK)).unwrap();
        }
        let ids: BTreeSet<&str> = all.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), all.len(), "ids are unique");
    }

    #[test]
    fn ids_survive_unrelated_edits() {
        let edited = format!(
            "import os\n\n# a comment\ndef helper():\n    if os:\n        raise ValueError()\n{}",
            CHECK.replace("if caller.is_admin:", "if  caller.is_admin :  # admins")
        );
        let before: Vec<String> = mutants(CHECK).into_iter().map(|m| m.id).collect();
        let after: Vec<Mutant> = mutants(&edited);
        for id in &before {
            let moved = after
                .iter()
                .find(|m| &m.id == id)
                .unwrap_or_else(|| panic!("{id} is gone"));
            assert_eq!(moved.function, "check");
        }
        assert!(after.iter().any(|m| m.function == "helper"));
        assert!(
            before[0].starts_with("negate-condition:check:"),
            "{}",
            before[0]
        );
    }

    #[test]
    fn equal_nodes_of_one_function_get_occurrence_numbers() {
        let source = "def f(x):\n    if x:\n        raise E()\n    if x:\n        raise E()\n";
        let ids: Vec<String> = mutants(source)
            .into_iter()
            .filter(|m| m.operator == Operator::DropRaise)
            .map(|m| m.id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert_eq!(ids[1], format!("{}-2", ids[0]));
    }

    #[test]
    fn nested_functions_and_methods_are_named_by_their_path() {
        let source = "class Keys:\n    def check(self):\n        def inner():\n            raise E()\n        raise F()\n";
        let functions: Vec<String> = mutants(source).into_iter().map(|m| m.function).collect();
        assert_eq!(functions, ["Keys.check.inner", "Keys.check"]);
    }

    #[test]
    fn a_file_that_is_not_python_is_an_error_with_its_line() {
        let error = generate("f.py", "def f(:\n    pass\n").unwrap_err();
        assert!(
            matches!(error, MutateError::Parse { line: 1, .. }),
            "{error:?}"
        );
        assert_eq!(Operator::parse("drop-raise"), Some(Operator::DropRaise));
    }
}

#[cfg(test)]
mod twin {
    use super::*;

    #[test]
    fn the_twins_key_handlers_have_the_update_fix_mutant() {
        let source = include_str!("../../testdata/twin/keys.py");
        let all = generate("keys.py", source).unwrap();
        // Every mutant of the twin's handlers is still Python.
        for mutant in &all {
            generate("keys.py", &mutant.apply(source)).unwrap();
        }
        let dropped = all
            .iter()
            .filter(|m| m.function == "check_update" && m.original.contains("update_needs_admin"))
            .map(|m| m.operator)
            .collect::<Vec<_>>();
        assert_eq!(
            dropped,
            [
                Operator::NegateCondition,
                Operator::ConditionTrue,
                Operator::ConditionFalse
            ]
        );
    }
}
